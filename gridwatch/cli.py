"""The `gridwatch` command line (CONTRACT.md section 2).

Every setting is an option of the top-level command and a `GRIDWATCH_*` variable:
`gridwatch --redis-url redis://... ingest` equals `GRIDWATCH_REDIS_URL=redis://... gridwatch ingest`.
The subcommands only parse their own arguments and call into the packages.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Optional

import typer

from gridwatch.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__.split("\n\n")[0])
geodata_app = typer.Typer(no_args_is_help=True, help="Boundary files: validation and the demo dataset.")
users_app = typer.Typer(no_args_is_help=True, help="Dashboard accounts.")
db_app = typer.Typer(no_args_is_help=True, help="The records database (PostgreSQL): schema migrations.")
records_app = typer.Typer(no_args_is_help=True, help="The bureau's records: the sealed-record chain.")
app.add_typer(geodata_app, name="geodata")
app.add_typer(users_app, name="users")
app.add_typer(db_app, name="db")
app.add_typer(records_app, name="records")
calendar_app = typer.Typer(no_args_is_help=True, help="Working days: the State Council's yearly holiday schedule.")
complaints_app = typer.Typer(no_args_is_help=True, help="Complaints (12315/12365/12331): the national platform's hand-ons.")
app.add_typer(calendar_app, name="calendar")
app.add_typer(complaints_app, name="complaints")
draw_app = typer.Typer(no_args_is_help=True, help="Double-random draws: redo and check them.")
app.add_typer(draw_app, name="draw")


def _settings_callback(ctx: typer.Context, **options) -> None:
    given = {k: v for k, v in options.items() if v is not None}
    ctx.obj = Settings(**given)


def _option_for(name: str, field) -> inspect.Parameter:
    ann = field.annotation
    base = next((a for a in getattr(ann, "__args__", ()) if a is not type(None)), ann)
    if base not in (str, int, float, Path):
        base = str
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=Optional[base],
        default=typer.Option(None, f"--{name.replace('_', '-')}", help=field.description or None,
                             show_default=False),
    )


# Environment variables are read by Settings itself; the options only override them.
_settings_callback.__signature__ = inspect.Signature(
    [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    + [_option_for(n, f) for n, f in Settings.model_fields.items()]
)
app.callback()(_settings_callback)


def settings_of(ctx: typer.Context) -> Settings:
    return ctx.find_root().obj


@geodata_app.command("build-demo")
def build_demo(outdir: Path = typer.Argument(Path("var/yingtan"))) -> None:
    """Generate the embedded Yingtan demo dataset (deterministic) into OUTDIR, with its history of records."""
    from gridwatch.demo import build_demo

    typer.echo(build_demo(outdir))


# --- geodata (issue 2): check, load --------------------------------------------------------

@geodata_app.command("check")
def geodata_check(
    files: list[Path] = typer.Argument(..., help="boundary files read as one set, or one dataset directory"),
    repair: bool = typer.Option(False, "--repair", help="repair invalid polygons with make_valid instead of refusing them"),
    outline: Optional[Path] = typer.Option(None, help="the jurisdiction's outline (default: the union of level-1 grids)"),
    tolerance_m2: float = typer.Option(10.0, help="overlaps, gaps and spill-over smaller than this are ignored"),
) -> None:
    """Validation and coverage report of boundary files; exit 1 on errors."""
    from geodata.check import check_files

    report = check_files(files, repair=repair, outline=outline, tolerance_m2=tolerance_m2)
    typer.echo(report.text())
    raise typer.Exit(0 if report.ok else 1)


@app.command()
def load(
    ctx: typer.Context,
    directory: Optional[Path] = typer.Argument(None, help="dataset directory (default: GRIDWATCH_DATA or the demo)"),
    repair: bool = typer.Option(False, "--repair", help="repair invalid polygons with make_valid instead of refusing them"),
) -> None:
    """Load a dataset into the store; idempotent; exit 1 when the dataset is refused."""
    from geodata.dataset import DatasetError, load_dataset
    from gridwatch.demo import ensure_demo
    from gridwatch.loading import store_dataset
    from gridwatch.redisconn import connect

    settings = settings_of(ctx)
    if directory is None:
        directory = settings.data_dir()
        if settings.data is None:
            ensure_demo(directory)
    try:
        ds = load_dataset(directory, repair=repair)
    except DatasetError as e:
        typer.echo(str(e), err=True)
        raise typer.Exit(1)
    conn = _records_db(settings, required=False)
    r = connect(settings.redis_url)
    try:
        counts, gone = store_dataset(r, settings, ds)
    finally:
        r.close()
    typer.echo(f"loaded {directory} into {settings.redis_url}: "
               + ", ".join(f"{v} {k}" for k, v in counts.items()) + "; 0 problems"
               + (f"; {gone} devices no longer registered left the live store" if gone else ""))
    if conn is None:
        typer.echo("records: not written (no database: set GRIDWATCH_DATABASE_URL or run `gridwatch demo`)")
        return
    from casework.records import load_dataset_records

    from casework.workdays import ScheduleError

    try:
        with conn:
            rec = load_dataset_records(conn, ds, Path(directory), tz=settings.tz)
    except DatasetError as e:     # a bad checklist file: the records are left as they were
        typer.echo(str(e), err=True)
        raise typer.Exit(1)
    except ScheduleError as exc:  # a bad schedule file: likewise
        typer.echo(f"records refused: {exc.message}", err=True)
        raise typer.Exit(1)
    typer.echo("records: " + ", ".join(f"{v} {k}" for k, v in rec.items()))


@app.command()
def demo(ctx: typer.Context, devices: int = typer.Option(0, help="extra synthetic terminals, for load")) -> None:
    """The whole system on one machine: store, broker, dataset, ingest, dispatcher, simulator, web."""
    from gridwatch.demo import run_demo

    raise typer.Exit(run_demo(settings_of(ctx), devices))


@app.command("broker-config")
def broker_config(ctx: typer.Context, outdir: Path = typer.Argument(..., help="where passwd, acl and credentials.csv go"),
                  data: Optional[Path] = typer.Option(None, "--dataset", help="dataset directory; default GRIDWATCH_DATA")) -> None:
    """Mosquitto password and ACL files for every registered device and service account."""
    from geodata.dataset import DatasetError, load_dataset
    from telemetry.broker import BrokerConfigError, write_broker_config

    settings = settings_of(ctx)
    try:
        people = load_dataset(data or settings.data_dir()).people
        devices = [(d, p) for d, p in zip(people["device"], people["id"]) if isinstance(d, str) and d]
        counts = write_broker_config(outdir, devices, settings.topic_root)
    except (DatasetError, BrokerConfigError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)
    typer.echo(f"{outdir}: passwd, acl, credentials.csv for {counts['devices']} devices and "
               f"{counts['services']} services ({counts['kept']} kept their password)")


@app.command()
def web(ctx: typer.Context,
        workers: int = typer.Option(1, min=1, help="web processes sharing the port (each its own pools and live hub)")) -> None:
    """The dashboard and REST API on GRIDWATCH_HTTP."""
    from dashboard.server import serve

    serve(settings_of(ctx), workers=workers)


@app.command()
def dispatcher(ctx: typer.Context,
               name: Optional[str] = typer.Option(None, help="consumer name; default host-pid")) -> None:
    """Order delivery, escalation timers, presence, geofence and battery alerts."""
    import logging

    from alerts.dispatcher import Dispatcher

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    settings = settings_of(ctx)
    periodic = ()
    try:
        settings.db_url()
    except RuntimeError:
        logging.getLogger("gridwatch").warning("no records database: tasks are not escalated")
    else:
        from casework import complaint_escalation
        from casework.task_escalation import job

        periodic = (job(settings), complaint_escalation.job(settings))
    raise typer.Exit(Dispatcher(settings, name=name, periodic=periodic).run())


@users_app.command("add")
def users_add(ctx: typer.Context, name: str,
              role: str = typer.Option(..., help="viewer|coordinator|admin|supervisor|reporter"),
              password: Optional[str] = typer.Option(None, help="generated and printed when not given"),
              person: Optional[str] = typer.Option(None, help="for roles supervisor and reporter: the person id")) -> None:
    """Create or replace a dashboard account."""
    from dashboard.auth import PERSON_ROLES, Accounts, AuthError
    from geodata.store import fetch_dataset
    from gridwatch.redisconn import connect

    r = connect(settings_of(ctx).redis_url)
    try:
        if role in PERSON_ROLES and person:
            people = fetch_dataset(r).people
            match = people[people["id"] == person]
            if match.empty or match["role"].iloc[0] not in PERSON_ROLES[role]:
                raise AuthError(f"a {role} account acts for a person whose role is "
                                f"{' or '.join(PERSON_ROLES[role])}; {person!r} is "
                                + (f"a {match['role'].iloc[0]}" if not match.empty else "not in the loaded dataset"))
        pw = Accounts(r).add(name, role, password, person)
    except (AuthError, LookupError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)
    typer.echo(f"{name} ({role})" + ("" if password else f" password: {pw}"))


@users_app.command("device-secret")
def users_device_secret(ctx: typer.Context, device: str) -> None:
    """Set (or rotate) DEVICE's HTTP ingest secret and print it (OwnTracks HTTP, OsmAnd)."""
    from dashboard.auth import set_device_secret
    from gridwatch.redisconn import connect

    typer.echo(set_device_secret(connect(settings_of(ctx).redis_url), device))


@users_app.command("token")
def users_token(ctx: typer.Context, name: str) -> None:
    """Print a new bearer token for NAME (for integrations and scripts)."""
    from dashboard.auth import Accounts, AuthError
    from gridwatch.redisconn import connect

    try:
        typer.echo(Accounts(connect(settings_of(ctx).redis_url)).new_token(name))
    except AuthError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2)


# --- the records (round 2): db upgrade, records verify ------------------------------------

def _records_db(settings: Settings, required: bool = True):
    """A connection to the records database at the code's schema; exits 1 with the reason when
    it is unreachable or behind. Without any database configured: None (required=False) or exit."""
    from casework.schema import SchemaBehind, require_current
    from gridwatch.db import DatabaseUnavailable, connect

    try:
        url = settings.db_url()
    except RuntimeError as exc:
        if not required:
            return None
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)
    try:
        require_current(url)
        return connect(url)
    except (SchemaBehind, DatabaseUnavailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Apply the records' schema migrations (idempotent)."""
    from casework.schema import upgrade
    from gridwatch.db import DatabaseUnavailable

    try:
        before, now = upgrade(settings_of(ctx).db_url())
    except (RuntimeError, DatabaseUnavailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1)
    typer.echo(f"schema {now}" + (" (already current)" if before == now else f" (was {before or 'empty'})"))


@records_app.command("verify")
def records_verify(ctx: typer.Context) -> None:
    """Recompute the sealed-record chain; exit 1 naming the first record that no longer matches."""
    from casework.seal import verify

    with _records_db(settings_of(ctx)) as conn:
        verdict = verify(conn)
    typer.echo(verdict.text())
    raise typer.Exit(0 if verdict.ok else 1)


# --- complaints (issue 17): the calendar, imports ----------------------------------------------

@calendar_app.command("load")
def calendar_load(ctx: typer.Context, file: Path = typer.Argument(..., help="day,kind,name CSV of one year")) -> None:
    """Load one year's schedule (refused whole on a bad row); open complaints' provisional
    deadlines in that year are recomputed."""
    from casework.workdays import ScheduleError, load_schedule

    with _records_db(settings_of(ctx)) as conn:
        try:
            out = load_schedule(conn, file, f"cli:calendar {Path(file).name}", tz=settings_of(ctx).tz)
        except ScheduleError as exc:
            typer.echo(f"refused: {exc.message}", err=True)
            raise typer.Exit(1)
    typer.echo(f"calendar {out['year']}: {out['days']} days loaded; {out['recomputed']} complaints' deadlines recomputed")


@complaints_app.command("import")
def complaints_import(ctx: typer.Context, file: Path = typer.Argument(..., help="CSV or JSON of hand-ons")) -> None:
    """Import the national platform's hand-ons (their received_at kept); refused whole on a bad row."""
    from alerts.errors import Invalid
    from casework.complaint_store import import_file
    from casework.complaints import Jurisdiction
    from geodata.dataset import load_dataset
    from geodata.index import GridIndex
    from geodata.registry import Registry

    settings = settings_of(ctx)
    ds = load_dataset(settings.data_dir())
    j = Jurisdiction(ds.grids, Registry(ds), GridIndex.from_grids(ds.grids))
    with _records_db(settings) as conn:
        try:
            out = import_file(conn, file, placer=j.placer, actor=f"import:{Path(file).name}", tz=settings.tz)
        except Invalid as exc:
            typer.echo(f"refused: {exc.message}", err=True)
            raise typer.Exit(1)
    typer.echo(f"{out['imported']} complaints imported, {out['already']} already there")
@draw_app.command("verify")
def draw_verify(ctx: typer.Context, draw_id: str = typer.Argument(..., metavar="ID")) -> None:
    """Redo draw ID from the database (its stored lists, seed and parameters); exit 1 on a mismatch."""
    from alerts.errors import NotFound
    from casework.draw_store import verify

    with _records_db(settings_of(ctx)) as conn:
        try:
            out = verify(conn, draw_id)
        except NotFound as exc:
            typer.echo(f"error: {exc.message}", err=True)
            raise typer.Exit(1)
    if out["match"]:
        typer.echo(f"ok: draw {draw_id} redone ({out['algorithm']}): the same {out['picks']} picks; "
                   f"inputs_hash {out['inputs_hash']}")
        raise typer.Exit(0)
    typer.echo(f"MISMATCH: draw {draw_id}: " + "; ".join(out["problems"]))
    raise typer.Exit(1)


# --- telemetry (issue 3): ingest, simulate ---------------------------------------------------

@app.command()
def ingest(
    ctx: typer.Context,
    client_id: Optional[str] = typer.Option(
        None, help="MQTT client id of this worker; keep it stable across restarts (its session holds "
                   "the messages that arrive while it is down); default gridwatch-ingest-<hostname>"),
    retire: Optional[str] = typer.Option(
        None, "--retire", metavar="ID",
        help="after scaling down: resume worker ID's session, store the messages the broker kept for it, "
             "end the session for good, and exit"),
) -> None:
    """The MQTT-to-store worker; run several with distinct --client-id (MQTT v5 shared subscription).
    With --retire ID, drain and end a retired worker's session instead."""
    import logging
    import socket

    from telemetry.worker import IngestWorker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = settings_of(ctx)
    if retire is not None:
        raise typer.Exit(IngestWorker(settings, retire, retire=True).run())
    worker = IngestWorker(settings, client_id or f"gridwatch-ingest-{socket.gethostname()}")
    raise typer.Exit(worker.run())


@app.command()
def simulate(
    ctx: typer.Context,
    devices: int = typer.Option(0, "--devices", help="synthetic terminals beyond the registered ones"),
    interval: float = typer.Option(10.0, "--interval", help="seconds between reports of one terminal"),
    seed: int = typer.Option(1, help="random seed (the same seed walks the same way)"),
    fast_orders: bool = typer.Option(False, "--fast-orders", help="answer orders within a second"),
) -> None:
    """Realistic terminals: registered ones plus N synthetic; they walk their grids, report, go stale, raise SOS, answer orders."""
    import logging

    from telemetry.simulator import Simulator

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    sim = Simulator.from_redis(settings_of(ctx), extra=devices, interval_s=interval, seed=seed,
                               fast_orders=fast_orders)
    raise typer.Exit(sim.run())

# --- end telemetry -----------------------------------------------------------------------------


if __name__ == "__main__":  # pragma: no cover
    app()
