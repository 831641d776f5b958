"""Typed settings loaded once at start: defaults < TOML file < environment < command-line flags."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import platformdirs

APP_NAME = "quant-terminal"
ENV_PREFIX = "QT_"
# Secrets never live in the TOML file: they come from the environment or the OS keyring.
SECRET_FIELDS = frozenset({"quandl_api_key", "monitor_token"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(ValueError):
    """A setting has a value that cannot be used; the message names the setting and its source."""


@dataclass(frozen=True)
class RiskLimits:
    """Pre-trade risk limits applied to every order, manual or from a strategy."""

    max_order_quantity: float = 10_000.0
    max_notional: float = 1_000_000.0
    price_band_percent: float = 5.0
    max_position: float = 50_000.0
    daily_loss_limit: float = 50_000.0


@dataclass(frozen=True)
class Settings:
    """Every setting of the terminal. ``sources`` records where each value came from."""

    data_dir: str = ""
    db_url: str = ""
    ib: str = ""  # HOST:PORT[:CLIENT_ID]; empty = built-in simulator
    client_id: int = 1
    sim_seed: int = 7
    sim_port: int = 0  # 0 = free loopback port
    sim_tick_rate: float = 4.0  # quotes per second per instrument (TWS conflates stocks to a few a second)
    sim_universe: str = ""  # CSV of the simulator's instruments; empty = the built-in S&P 500 + futures + FX
    theme: str = "dark"
    confirm_orders: bool = True
    daily_reset_time: str = "09:30"  # when the daily-loss limit starts a new day ...
    daily_reset_timezone: str = "America/New_York"  # ... in this zone (default: the US equity session's open)
    log_level: str = "INFO"
    quandl_api_base: str = ""
    quandl_api_key: str = ""
    archive: str = ""  # URL of the Parquet archive (path, nfs://, hdfs://); empty = <data dir>/archive
    monitor: str = ""  # HOST:PORT of the read-only monitor served from the terminal; empty = none
    feed: str = ""  # kafka://HOST:PORT of the desk bus: market data and orders through the desk hub, not --ib
    bus_prefix: str = "qt."  # topic prefix of the desk bus (the hub's --prefix)
    trader: str = ""  # who sends this terminal's orders on the desk bus (default: the login name)
    desk_role: str = "trader"  # trader: sees and cancels its own orders; desk: every order on the desk
    order_ttl: float = 10.0  # seconds an order command may take to reach the hub before it is refused as expired
    monitor_token: str = ""  # bearer token of the monitor (environment or keyring only); required off loopback
    max_order_quantity: float = RiskLimits.max_order_quantity
    max_notional: float = RiskLimits.max_notional
    price_band_percent: float = RiskLimits.price_band_percent
    max_position: float = RiskLimits.max_position
    daily_loss_limit: float = RiskLimits.daily_loss_limit
    sources: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def resolved_data_dir(self) -> Path:
        return Path(self.data_dir) if self.data_dir else Path(platformdirs.user_data_dir(APP_NAME))

    @property
    def resolved_archive(self) -> str:
        return self.archive or str(self.resolved_data_dir / "archive")

    @property
    def resolved_db_url(self) -> str:
        if self.db_url:
            return self.db_url
        return f"sqlite:///{self.resolved_data_dir / 'terminal.sqlite'}"

    @property
    def risk_limits(self) -> RiskLimits:
        return RiskLimits(
            max_order_quantity=self.max_order_quantity,
            max_notional=self.max_notional,
            price_band_percent=self.price_band_percent,
            max_position=self.max_position,
            daily_loss_limit=self.daily_loss_limit,
        )

    def feed_endpoint(self) -> tuple[str, int] | None:
        """(host, port) of the desk bus's first Kafka server when the terminal runs on the feed."""
        if not self.feed:
            return None
        host, _, port = parse_kafka_url(self.feed).split(",")[0].rpartition(":")
        return host, int(port)

    def ib_endpoint(self) -> tuple[str, int, int] | None:
        """(host, port, client id) of a real TWS/Gateway, or None for the built-in simulator."""
        if not self.ib:
            return None
        return parse_ib_endpoint(self.ib, self.client_id)


def parse_feed_url(text: str) -> str:
    """``kafka://HOST:PORT[,HOST:PORT]`` of the desk bus, written out in full (a bare HOST:PORT gets its scheme)."""
    try:
        return "kafka://" + parse_kafka_url(text)
    except ValueError as exc:
        raise ConfigError(f"feed: {exc}") from None


def parse_ib_endpoint(text: str, default_client_id: int = 1) -> tuple[str, int, int]:
    parts = text.strip().split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise ConfigError(f"ib {text!r} must look like HOST:PORT or HOST:PORT:CLIENT_ID, e.g. 127.0.0.1:7497")
    try:
        port = int(parts[1])
        client_id = int(parts[2]) if len(parts) == 3 else default_client_id
    except ValueError as exc:
        raise ConfigError(f"ib {text!r}: port and client id must be integers") from exc
    if not 0 < port < 65536:
        raise ConfigError(f"ib {text!r}: port {port} must be between 1 and 65535")
    return parts[0], port, client_id


def parse_kafka_url(text: str) -> str:
    """``kafka://HOST:PORT[,HOST:PORT]`` (or just ``HOST:PORT``) as a bootstrap server list."""
    rest = text.strip().removeprefix("kafka://").rstrip("/")
    servers = [s for s in rest.split(",") if s]
    if not servers:
        raise ValueError(f"no Kafka server in {text!r}; expected kafka://HOST:PORT")
    for server in servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"bad Kafka server {server!r} in {text!r}; expected HOST:PORT, e.g. kafka://127.0.0.1:9092")
    return ",".join(servers)


def default_config_path() -> Path:
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.toml"


def _coerce(name: str, raw: Any, source: str) -> Any:
    kind = next(f.type for f in fields(Settings) if f.name == name)
    try:
        if kind == "bool":
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name} = {raw!r} from {source} is not a valid {kind}") from exc


def _names() -> list[str]:
    return [f.name for f in fields(Settings) if f.name != "sources"]


def load_settings(
    config_path: Path | None = None,
    environ: dict[str, str] | None = None,
    overrides: dict[str, Any] | None = None,
) -> Settings:
    """Build the effective settings and remember the source of each value."""
    environ = dict(os.environ) if environ is None else environ
    path = config_path or Path(environ.get(ENV_PREFIX + "CONFIG", "") or default_config_path())
    values: dict[str, Any] = {}
    sources = {name: "default" for name in _names()}
    if path.exists():
        data = _read_toml(path)
        flat = dict(data.get("terminal", {}), **{k: v for k, v in data.items() if not isinstance(v, dict)})
        flat.update(data.get("risk", {}))
        for key, raw in flat.items():
            if key not in sources:
                raise ConfigError(f"config file {path}: unknown setting {key!r}; known: {', '.join(_names())}")
            if key in SECRET_FIELDS:
                raise ConfigError(
                    f"config file {path}: {key} must not be stored in plain text; "
                    f"set {ENV_PREFIX}{key.upper()} or use the OS keyring"
                )
            values[key] = _coerce(key, raw, f"file {path}")
            sources[key] = f"file {path}"
    for name in _names():
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = _coerce(name, environ[env_name], f"env {env_name}")
            sources[name] = f"env {env_name}"
    if "quandl_api_key" not in values:
        key, where = _quandl_key_from_elsewhere(environ)
        if key:
            values["quandl_api_key"] = key
            sources["quandl_api_key"] = where
    if "monitor_token" not in values:
        token, where = _from_keyring("monitor_token", environ)
        if token:
            values["monitor_token"] = token
            sources["monitor_token"] = where
    for name, raw in (overrides or {}).items():
        if raw is None:
            continue
        values[name] = _coerce(name, raw, "flag")
        sources[name] = f"flag --{name.replace('_', '-')}"
    if "log_level" in values:
        values["log_level"] = values["log_level"].upper()
    settings = replace(Settings(), **values)
    _check_ranges(settings, sources)
    if settings.ib:
        parse_ib_endpoint(settings.ib, settings.client_id)
    if settings.monitor:
        from terminal.monitor.security import MonitorConfigError, parse_listen

        try:
            parse_listen(settings.monitor)
        except MonitorConfigError as exc:
            raise ConfigError(f"{exc} (from {sources['monitor']})") from None
    _check_daily_reset(settings, sources)
    if settings.theme not in ("dark", "light"):
        raise ConfigError(f"theme {settings.theme!r} from {sources['theme']} must be 'dark' or 'light'")
    return replace(settings, sources=sources)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"config file {path} is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except IsADirectoryError as exc:
        raise ConfigError(f"config file {path} is a folder; give a TOML file") from exc
    except OSError as exc:
        raise ConfigError(f"config file {path} cannot be read ({exc.strerror}); give a readable TOML file") from exc


def _check_ranges(settings: Settings, sources: dict[str, str]) -> None:
    if settings.log_level not in LOG_LEVELS:
        raise ConfigError(f"log_level {settings.log_level!r} from {sources['log_level']} must be one of "
                          f"{', '.join(LOG_LEVELS)}")
    for name in ("client_id", "sim_seed"):
        if getattr(settings, name) < 0:
            raise ConfigError(f"{name} {getattr(settings, name)} from {sources[name]} must be a whole number ≥ 0")
    if not 0 < settings.sim_tick_rate <= 1000:
        raise ConfigError(f"sim_tick_rate {settings.sim_tick_rate:g} from {sources['sim_tick_rate']} must be "
                          "more than 0 and at most 1000 quotes per second per instrument")
    if settings.feed:
        try:
            parse_kafka_url(settings.feed)
        except ValueError as exc:
            raise ConfigError(f"feed from {sources['feed']}: {exc}") from None
        if settings.ib:
            raise ConfigError(f"feed {settings.feed!r} and ib {settings.ib!r} both given: a terminal on the desk "
                              "feed reaches the broker only through the hub; give one of them")
    if settings.desk_role not in ("trader", "desk"):
        raise ConfigError(f"desk_role {settings.desk_role!r} from {sources['desk_role']} must be trader or desk")
    if not 0 < settings.order_ttl <= 3600:
        raise ConfigError(f"order_ttl {settings.order_ttl:g} from {sources['order_ttl']} must be more than 0 "
                          "and at most 3600 seconds")
    if not 0 <= settings.sim_port <= 65535:
        raise ConfigError(f"sim_port {settings.sim_port} from {sources['sim_port']} must be 0..65535 "
                          "(0 picks a free port)")


def _check_daily_reset(settings: Settings, sources: dict[str, str]) -> None:
    from terminal.services.trading_day import TradingDayError, parse_reset

    try:
        parse_reset(settings.daily_reset_time, settings.daily_reset_timezone)
    except TradingDayError as exc:
        where = f"{sources['daily_reset_time']} / {sources['daily_reset_timezone']}"
        raise ConfigError(f"{exc} (from {where})") from None


def _quandl_key_from_elsewhere(environ: dict[str, str]) -> tuple[str, str]:
    for env_name in ("NASDAQ_DATA_LINK_API_KEY", "QUANDL_API_KEY"):
        if environ.get(env_name):
            return environ[env_name], f"env {env_name}"
    return _from_keyring("quandl_api_key", environ)


def _from_keyring(name: str, environ: dict[str, str]) -> tuple[str, str]:
    """A secret from the OS keyring (service ``quant-terminal``, user ``name``), unless QT_NO_KEYRING is set."""
    if environ.get(ENV_PREFIX + "NO_KEYRING"):
        return "", ""
    try:
        import keyring  # optional: only when installed

        key = keyring.get_password(APP_NAME, name)
    except Exception:  # no keyring package or no backend on this machine
        return "", ""
    return (key, "keyring") if key else ("", "")


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, shown value, source) rows for ``quant-terminal config``; secrets are masked."""
    from terminal.store import safe_url  # the store's own rendering, so both hide a password alike

    rows = []
    for name in _names():
        value = getattr(settings, name)
        if name in SECRET_FIELDS:
            shown = "*" * 8 if value else ""
        elif name == "db_url":
            shown = safe_url(value) if value else ""
        else:
            shown = str(value)
        rows.append((name, shown, settings.sources.get(name, "default")))
    rows.append(("(db url in use)", safe_url(settings.resolved_db_url), "derived"))
    return rows
