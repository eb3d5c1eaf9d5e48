/*
 * copier's own message, as one line, from what the copier CLI printed when it
 * failed. copier 9 prints a Python traceback for a bad answer (a validator
 * message, a choice that is not allowed); a scaffolder task should show the
 * message, not the traceback. No imports, so it runs as is under Node's type
 * stripping (tests/catalog/test_backstage_template.py feeds it real copier
 * output).
 */
const VALIDATION = /^Validation error for question '[^']+': /;
// The last line of a Python traceback: `ValueError: message`, `copier.errors.UserMessageError: message`.
const EXCEPTION = /^(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception):\s*(.*)$/;

export function copierErrorLine(stderr: string, exitCode: number | null): string {
  const lines = stderr.split(/\r?\n/).map((l) => l.trim()).filter((l) => l.length > 0);
  const tracebackAt = lines.findIndex((l) => l.startsWith('Traceback (most recent call last)'));
  if (tracebackAt >= 0) {
    for (let i = lines.length - 1; i > tracebackAt; i--) {
      const match = EXCEPTION.exec(lines[i]);
      if (match) return match[1].replace(VALIDATION, '') || lines[i];
    }
  }
  // No traceback: copier's own one-line errors (unsafe template, bad ref, ...), skipping warnings.
  const said = lines.filter((l) => !/Warning\b/.test(l) && !/^warn\(/.test(l));
  const last = said.length > 0 ? said[said.length - 1] : undefined;
  return last ?? `copier exited with code ${exitCode} and printed nothing`;
}
