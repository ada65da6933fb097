"""``streamjury dev``: run the real servers the tests use, by hand, without Docker.

Click commands over the dev-server modules (``streamjury.devservers``), which hold no CLI.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from streamjury.devservers import kafka as kafka_server
from streamjury.devservers import kinesis as kinesis_server
from streamjury.devservers.errors import DevServerError

PORT = click.IntRange(1, 65_535)


@contextmanager
def _dev_server_errors() -> Iterator[None]:
    """A dev server failure as one ``streamjury: error:`` line naming the log, exit 1."""
    try:
        yield
    except DevServerError as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        raise click.ClickException(first_line.rstrip(":")) from exc


def _verbosity(verbose: bool, quiet_level: int) -> None:
    """Dev-server modules log at ``quiet_level`` and above, or everything with ``-v``."""
    logging.getLogger("streamjury.devservers").setLevel(logging.DEBUG if verbose else quiet_level)


def _stop_on_signals() -> None:
    """SIGTERM ends the foreground server like Ctrl-C; SIGINT is restored to Python's default
    because a shell starting us in the background leaves it ignored."""

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)


@click.group()
def dev() -> None:
    """Local development servers: a pinned Apache Kafka broker and kinesis-local."""


# -- Kafka ---------------------------------------------------------------------------------


@dev.group()
@click.option(
    "--version",
    "version",
    default=kafka_server.KAFKA_VERSION,
    show_default=True,
    help="Apache Kafka version of the jars.",
)
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar=kafka_server.CACHE_ENV,
    show_envvar=True,
    help="Where the jars are cached.  [default: .cache/kafka in the repository]",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what the broker tooling does.")
@click.pass_context
def kafka(ctx: click.Context, version: str, cache_dir: Path | None, verbose: bool) -> None:
    """Apache Kafka (KRaft, one node) from Maven Central jars: install, or start in the
    foreground."""
    _verbosity(verbose, logging.WARNING)
    ctx.obj = {"version": version, "cache_dir": cache_dir}


@kafka.command("install")
@click.pass_obj
def kafka_install(options: dict[str, object]) -> None:
    """Download the broker jars from Maven Central (free once they are there)."""
    version = str(options["version"])
    started = time.monotonic()
    with _dev_server_errors():
        libs = kafka_server.install(_path(options["cache_dir"]), version=version)
    click.echo(f"Kafka {version} jars in {libs} ({time.monotonic() - started:.1f}s)")


@kafka.command("start")
@click.option(
    "--brokers",
    type=click.IntRange(1, 9),
    default=1,
    show_default=True,
    help="KRaft nodes, each broker and controller; 3 or more: every topic at replication "
    "factor 3 with min.insync.replicas 2.",
)
@click.option("--port", type=PORT, default=None, help="Client port.  [default: a free one]")
@click.option(
    "--controller-port", type=PORT, default=None, help="KRaft controller port.  [default: free]"
)
@click.option(
    "--work-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Keep config, log and data here.  [default: a temporary folder, deleted on exit]",
)
@click.pass_obj
def kafka_start(
    options: dict[str, object],
    brokers: int,
    port: int | None,
    controller_port: int | None,
    work_dir: Path | None,
) -> None:
    """Run a broker (or a cluster) in the foreground until Ctrl-C; prints its bootstrap.servers."""
    if brokers > 1:
        if port is not None or controller_port is not None or work_dir is not None:
            raise click.UsageError("--port, --controller-port and --work-dir are for one broker")
        _kafka_cluster(options, brokers)
        return
    broker = kafka_server.LocalKafkaBroker(
        work_dir=work_dir,
        cache_dir=_path(options["cache_dir"]),
        version=str(options["version"]),
        port=port,
        controller_port=controller_port,
    )
    _stop_on_signals()
    try:
        with _dev_server_errors():
            broker.start()
        click.echo(f"Kafka {broker.version} listening on {broker.bootstrap_servers}")
        click.echo(f"bootstrap.servers={broker.bootstrap_servers}")
        click.echo(f"log: {broker.log_path}   data: {broker.data_dir}   (Ctrl-C stops)")
        code = broker.wait()
        raise click.ClickException(f"Kafka exited with code {code}; see {broker.log_path}")
    except KeyboardInterrupt:
        click.echo("stopping Kafka...", err=True)
    finally:
        if work_dir is None:
            broker.close()
        else:
            broker.stop()


def _kafka_cluster(options: dict[str, object], brokers: int) -> None:
    """``start --brokers N``: N nodes until Ctrl-C or until one of them exits."""
    cluster = kafka_server.LocalKafkaCluster(
        brokers, cache_dir=_path(options["cache_dir"]), version=str(options["version"])
    )
    _stop_on_signals()
    try:
        with _dev_server_errors():
            cluster.start()
        click.echo(f"Kafka {options['version']}: {brokers} nodes")
        click.echo(f"bootstrap.servers={cluster.bootstrap_servers}")
        for node in cluster.brokers:
            click.echo(f"node {node.node_id}: pid {node.pid}, log {node.log_path}")
        click.echo("(Ctrl-C stops them all)")
        while all(node.is_running() for node in cluster.brokers):
            time.sleep(0.5)
        raise click.ClickException("a Kafka node exited; see its log (the others are stopped)")
    except KeyboardInterrupt:
        click.echo("stopping Kafka...", err=True)
    finally:
        cluster.close()


# -- kinesis-local -------------------------------------------------------------------------


@dev.group()
@click.option(
    "--cache-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    envvar=kinesis_server.CACHE_ENV_VAR,
    show_envvar=True,
    help="Where the npm package is cached.  [default: .cache/kinesis-local in the repository]",
)
@click.option("-v", "--verbose", is_flag=True, help="Log what the server tooling does.")
@click.pass_context
def kinesis(ctx: click.Context, cache_dir: Path | None, verbose: bool) -> None:
    """kinesis-local (a Kinesis API mock) from npm on 127.0.0.1: install, or start in the
    foreground."""
    _verbosity(verbose, logging.INFO)
    ctx.obj = {"cache_dir": cache_dir}


@kinesis.command("install")
@click.pass_obj
def kinesis_install(options: dict[str, object]) -> None:
    """npm install the pinned kinesis-local (free once it is there)."""
    started = time.monotonic()
    with _dev_server_errors():
        package = kinesis_server.install(_path(options["cache_dir"]))
    click.echo(
        f"kinesis-local {kinesis_server.KINESIS_LOCAL_VERSION} in {package} "
        f"({time.monotonic() - started:.1f}s)"
    )


@kinesis.command("start")
@click.option("--port", type=PORT, default=None, help="HTTP port.  [default: a free one]")
@click.option("--tls-port", type=PORT, default=None, help="HTTPS port.  [default: a free one]")
@click.option("--region", default=kinesis_server.DEFAULT_REGION, show_default=True)
@click.option(
    "--account-id", default=None, help="Account id in stream ARNs.  [default: 000000000000]"
)
@click.option(
    "--duration", default="10ms", show_default=True, help="Delay of stream and shard changes."
)
@click.option("--log-level", default="WARN", show_default=True, help="kinesis-local's LOG_LEVEL.")
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Keep the server log here.  [default: a temporary file]",
)
@click.pass_obj
def kinesis_start(
    options: dict[str, object],
    port: int | None,
    tls_port: int | None,
    region: str,
    account_id: str | None,
    duration: str,
    log_level: str,
    log_file: Path | None,
) -> None:
    """Run kinesis-local in the foreground until Ctrl-C; prints the endpoint to export."""
    server = kinesis_server.LocalKinesis(
        cache_dir=_path(options["cache_dir"]),
        port=port,
        tls_port=tls_port,
        region=region,
        account_id=account_id,
        state_change_duration=duration,
        log_level=log_level,
        log_path=log_file,
    )
    _stop_on_signals()
    crashed = False
    try:
        with _dev_server_errors():
            server.start()
        click.echo(f"kinesis-local ready: {server.endpoint_url} (https port {server.tls_port})")
        click.echo(
            f"  export AWS_ENDPOINT_URL_KINESIS={server.endpoint_url} AWS_REGION={server.region}"
        )
        click.echo(f"  log: {server.log_path}; Ctrl-C stops")
        while server.is_running:
            time.sleep(0.5)
        crashed = True
        raise click.ClickException(f"kinesis-local exited unexpectedly; see {server.log_path}")
    except KeyboardInterrupt:
        click.echo("stopping kinesis-local...", err=True)
    finally:
        server.stop(keep_log=crashed)


def _path(value: object) -> Path | None:
    return value if isinstance(value, Path) else None
