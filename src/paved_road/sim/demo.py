"""`paved demo --rollback` (make demo-rollback): an incident on one machine.

Starts `paved sim` in this process (the default world plus a release 1.4.0;
1.3.0 fails its health checks, 1.4.0 starts fine but serves errors, and the
service watches the alarms the ecs-service module creates), then runs the real
commands a release engineer and an on-call engineer would: release 1.1.0 and
1.2.0, deploy the broken 1.3.0 and watch the circuit breaker roll it back
(exit 4), then `paved rollback --previous`, which sees that ECS already put
the last good release back, verifies that and moves nowhere (`--again` would
go one release further); then deploy 1.4.0 and watch its 5xx-rate alarm roll
it back (exit 4, "rolled back by alarm") — printing `paved history` after
each step.
"""

from __future__ import annotations

import copy
import os
import shlex
import subprocess
import tempfile

from rich.console import Console

CLUSTER, SERVICE = "demo", "demo-service"
TARGET = ("--cluster", CLUSTER, "--service", SERVICE)


def run_rollback_demo(console: Console, speed: float = 4.0) -> int:
    from paved_road import cli
    from paved_road.sim.cli import exports
    from paved_road.sim.server import SimServer
    from paved_road.sim.world import DEFAULT_SEED, Seeder, module_alarms

    seed = copy.deepcopy(DEFAULT_SEED)
    seed["repositories"]["demo-service"]["releases"].append({"version": "1.4.0", "pushed_at": "-1h"})
    service = seed["clusters"][CLUSTER]["services"][SERVICE]
    service["alarms"] = [a["AlarmName"] for a in module_alarms(SERVICE, service["environment"])]
    server = SimServer("127.0.0.1", 0, speed=speed).start()
    server.app.seeder = Seeder(server.app, server.endpoint)
    server.app.reset({"seed": seed, "fail": ["1.3.0"], "alarm": ["1.4.0"], "speed": speed})
    env = {"AWS_ENDPOINT_URL": server.endpoint, "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "sim", "AWS_SECRET_ACCESS_KEY": "sim"}
    saved = {k: os.environ.get(k) for k in [*env, "AWS_PROFILE", "AWS_SESSION_TOKEN"]}
    os.environ.update(env)
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    codes: list[int] = []
    # demo-service's checkout: a commit and a vX.Y.Z tag per release, for `paved dora`'s lead time.
    checkout = tempfile.TemporaryDirectory(prefix="paved-demo-checkout.")

    who = {"GIT_AUTHOR_NAME": "demo", "GIT_AUTHOR_EMAIL": "demo@example.com",
           "GIT_COMMITTER_NAME": "demo", "GIT_COMMITTER_EMAIL": "demo@example.com"}

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", checkout.name, *args], check=True, capture_output=True, env={**os.environ, **who})

    def release(version: str) -> None:
        git("commit", "-q", "--allow-empty", "-m", f"changes for {version}")
        git("tag", f"v{version}")

    git("init", "-q")
    poll = ("--poll-interval", f"{1 / speed:g}")

    def paved(*args: str) -> int:
        console.print(f"[bold]$ paved {shlex.join(args)}[/bold]")
        code = cli.main(list(args))
        console.print(f"[dim](exit {code})[/dim]")
        return code

    def history() -> None:
        paved("history", *TARGET)

    try:
        console.rule("0. paved sim: ECS, ECR and CloudWatch alarms on this machine (1.3.0 fails its health checks, "
                     "1.4.0 serves errors)")
        for line in exports(server.endpoint, "us-east-1"):
            console.print(f"  {line}")
        history()
        release("1.0.0")
        console.rule("1. release 1.1.0")
        release("1.1.0")
        codes.append(paved("deploy", *TARGET, "--to", "1.1.0", *poll))
        history()
        console.rule("2. release 1.2.0")
        release("1.2.0")
        codes.append(paved("deploy", *TARGET, "--to", "1.2.0", *poll))
        history()
        console.rule("3. deploy the broken 1.3.0: the circuit breaker rolls it back, paved exits 4")
        release("1.3.0")
        codes.append(paved("deploy", *TARGET, "--to", "1.3.0", *poll))
        history()
        console.rule("4. on-call: get off the bad release; what would --previous do?")
        codes.append(paved("rollback", *TARGET, "--previous", "--dry-run"))
        console.rule("5. rollback --previous: ECS already rolled back, so it verifies 1.2.0 and stays there")
        codes.append(paved("rollback", *TARGET, "--previous", *poll))
        history()
        console.rule("6. deploying 1.3.0 again (a CI re-run) is refused: this service rolled it back")
        codes.append(paved("deploy", *TARGET, "--to", "1.3.0", *poll))
        console.rule("7. release 1.4.0: healthy tasks, but 5xx answers; its alarm rolls it back, paved exits 4")
        release("1.4.0")
        codes.append(paved("deploy", *TARGET, "--to", "1.4.0", *poll))
        history()
        console.rule("8. what the history says about delivery: the four DORA keys (paved dora)")
        codes.append(paved("dora", *TARGET, "--since", "1d", "--repo", checkout.name, "--no-store"))  # a throwaway world
        from paved_road.deploy import ledger
        from paved_road.deploy.aws_session import AwsClients
        book = ledger.read(AwsClients().ecs, CLUSTER, SERVICE)
        newest, runs = book.current, len(book.runs)
    finally:
        server.stop()
        checkout.cleanup()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    ok = (codes == [0, 0, 4, 0, 0, 2, 4, 0] and newest is not None and newest.release == "1.2.0"
          and newest.how == "ecs-rollback" and newest.ran and runs == 7)
    console.print("[green]demo ok: ECS rolled the broken 1.3.0 back to 1.2.0, rollback --previous verified "
                  "that and stayed on 1.2.0, the last good release, and the 5xx-rate alarm rolled 1.4.0 back "
                  "to it[/green]" if ok
                  else f"[red]demo failed: exits {codes}[/red]")
    return 0 if ok else 1
