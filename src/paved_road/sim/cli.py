"""`paved sim [--port PORT] [--seed FILE] [--fail VERSION ...] [--speed X]`.

Starts the simulator on loopback, seeds it (the default world without --seed),
prints the environment to point the AWS CLI / SDKs / `paved` at it, and serves
until interrupted (Ctrl-C, SIGTERM).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import signal
import sys
import threading


def positive_speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 1000:
        raise argparse.ArgumentTypeError(f"must be a number above 0 and at most 1000 (got '{text}')")
    return value


def exports(endpoint: str, region: str) -> list[str]:
    return [
        f"export AWS_ENDPOINT_URL={endpoint}",
        f"export AWS_REGION={region} AWS_DEFAULT_REGION={region}",
        "export AWS_ACCESS_KEY_ID=sim AWS_SECRET_ACCESS_KEY=sim",
        "unset AWS_PROFILE AWS_SESSION_TOKEN",
    ]


def run(args: argparse.Namespace) -> int:
    import logging

    try:
        from paved_road.sim.server import SimServer
        from paved_road.sim.world import Seeder, SeedError, load_seed
    except ImportError as exc:  # moto is in the `sim` extra
        print(f"paved sim: needs the sim extra (pip install 'paved-road[sim]'): {exc}", file=sys.stderr)
        return 2

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        seed = load_seed(args.seed) if args.seed else None
    except SeedError as exc:
        print(f"paved sim: {exc}", file=sys.stderr)
        return 2
    # The world is seeded through a private loopback port first; the port users wait for opens only once the
    # world exists, so a script that waits for the port never meets an empty world.
    seeding = SimServer("127.0.0.1", 0, speed=args.speed).start()
    seeding.app.seeder = Seeder(seeding.app, seeding.endpoint)
    try:
        seeding.app.reset({"seed": seed, "fail": args.fail, "speed": args.speed, "alarm": args.alarm,
                           "fail_rollback": args.fail_rollback})
    except SeedError as exc:
        print(f"paved sim: {exc}", file=sys.stderr)
        return 2
    finally:
        seeding.stop()
    said = io.StringIO()
    try:  # werkzeug prints its own two lines and exits 1 when the port is taken: one line and 2 instead
        with contextlib.redirect_stderr(said):
            server = SimServer(args.host, args.port, app=seeding.app).start()
    except (OSError, SystemExit) as exc:
        why = getattr(exc, "strerror", None) or (said.getvalue().strip().splitlines() or [str(exc)])[0]
        print(f"paved sim: cannot listen on {args.host}:{args.port}: {why}; "
              "pass another --port (0 picks a free one) or stop what uses it", file=sys.stderr)
        return 2
    server.app.seeder = Seeder(server.app, server.endpoint)  # later resets (admin route) seed through this port
    region = (seed or {}).get("region") or "us-east-1"
    print(f"paved sim: ECS, ECR and CloudWatch alarms on {server.endpoint} (speed {args.speed:g}"
          + (f", failing releases: {', '.join(args.fail)}" if args.fail else "")
          + (f", releases firing the alarms: {', '.join(args.alarm)}" if args.alarm else "")
          + (", rollbacks fail" if args.fail_rollback else "") + ")")
    print("point the AWS SDKs and paved at it:")
    for line in exports(server.endpoint, region):
        print(f"  {line}")
    if not args.seed:
        print("world: cluster demo, service demo-service (rolling, circuit breaker with rollback, running 1.0.0); "
              "ECR demo-service with 1.0.0 1.1.0 1.2.0 1.3.0")
    print("Ctrl-C stops it", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    server.stop()
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sim", help="run ECS and ECR locally (moto server plus ECS deployments) to try paved")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default: 127.0.0.1; anything else exposes an unauthenticated AWS-like API)")
    p.add_argument("--port", type=int, default=5055, help="port (default: 5055; 0 picks a free one)")
    p.add_argument("--seed", metavar="FILE", help="YAML world: repositories, releases, clusters, services and their deployment history "
                   "(format: at the end of this help); default: the demo world")
    p.add_argument("--fail", metavar="VERSION", nargs="*", default=[],
                   help="releases whose tasks fail their health checks")
    p.add_argument("--alarm", metavar="VERSION", nargs="*", default=[],
                   help="releases whose tasks serve 5xx and drive the services' error alarms to ALARM once they take traffic "
                        "(ECS then rolls back, naming the alarm); the default world gets the ecs-service "
                        "module's alarms demo-service-staging-http-5xx-rate and -http-latency-p99")
    p.add_argument("--fail-rollback", action="store_true",
                   help="rollbacks fail too: a rolled-back deployment ends ROLLBACK_FAILED")
    p.add_argument("--speed", type=positive_speed, default=1.0, help="divide ECS's timings by this (default: 1)")
    p.set_defaults(func=run)
