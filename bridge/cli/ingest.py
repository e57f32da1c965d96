"""`crm-bridge ingest token ...`: the ingest's identities and bearer tokens, kept hashed in the token file.

    crm-bridge ingest token add ERP --source erp://acme --type 'com.acme.crm.*'   # prints the token, once
    crm-bridge ingest token rotate ERP              # a second token; both are valid until the old one is revoked
    crm-bridge ingest token revoke ERP --token-id 3f9a1c2e
    crm-bridge ingest token grant ERP --type com.acme.crm.customer.upserted       # replace what it may publish
    crm-bridge ingest token remove ERP
    crm-bridge ingest token list [--json]

The file is `--file`, else `BRIDGE_INGEST__TOKENS_FILE`; it is replaced atomically (mode 0600) and a running
ingest re-reads it within `ingest.reload_interval_s`. A new token goes to standard output alone (for scripts);
everything else goes to standard error. Only the token's SHA-256 hash is written anywhere.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from bridge.errors import ConfigError
from bridge.ingest.tokens import (
    MAX_TOKENS,
    IdentityEntry,
    TokenFile,
    new_token,
    read_token_file,
    write_token_file,
)

_FILE = click.option(
    "--file",
    "path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="The token file (default: BRIDGE_INGEST__TOKENS_FILE).",
)


def _path(path: Path | None) -> Path:
    if path is not None:
        return path
    from bridge.config import Settings  # noqa: PLC0415 - commands load their modules on use

    configured = Settings().ingest.tokens_file
    if configured is None:
        raise click.UsageError("pass --file or set BRIDGE_INGEST__TOKENS_FILE")
    return configured


def _load(path: Path, *, missing_ok: bool = False) -> TokenFile:
    if missing_ok and not path.exists():
        return TokenFile()
    try:
        return read_token_file(path)
    except ConfigError as exc:
        raise click.ClickException(exc.message) from exc


def _identity(tokens: TokenFile, name: str) -> IdentityEntry:
    entry = tokens.identity(name)
    if entry is None:
        known = ", ".join(i.name for i in tokens.identities) or "none"
        raise click.ClickException(f"no identity {name!r} in the token file (known: {known})")
    return entry


def _issue(path: Path, tokens: TokenFile, entry: IdentityEntry) -> None:
    """Add a fresh token to `entry`, write the file, then print the token (once) and how to use it."""
    taken = {t.id for i in tokens.identities for t in i.tokens}
    token, record = new_token(taken)
    write_token_file(path, tokens.with_identity(entry.model_copy(update={"tokens": (*entry.tokens, record)})))
    click.echo(token)
    click.echo(
        f"New token {record.id} for {entry.name}. It is shown this once: {path} keeps only its SHA-256 hash. "
        f"Send it as 'Authorization: Bearer <token>'.",
        err=True,
    )


@click.group("ingest")
def ingest() -> None:
    """The HTTP ingest's identities and credentials."""


@ingest.group("token")
def token() -> None:
    """Bearer tokens of the ingest, one identity per source system (hashed in the token file)."""


@token.command("add")
@click.argument("name")
@click.option("--source", "sources", multiple=True, required=True, help="Allowed CloudEvents source (`*`: any run).")
@click.option("--type", "types", multiple=True, required=True, help="Allowed event type pattern, e.g. 'com.acme.*'.")
@click.option("--subject", "subjects", multiple=True, help="Client-certificate subject (RFC 4514) that is NAME (mTLS).")
@click.option("--rate-per-s", type=click.FloatRange(min=0, min_open=True), default=None, help="Events per second.")
@click.option("--burst-events", type=click.IntRange(min=1), default=None, help="Events at once before the rate.")
@click.option("--no-token", is_flag=True, help="Authenticate by client certificate only (needs --subject).")
@click.option("--exist-ok", is_flag=True, help="Do nothing (exit 0) when NAME exists: for set-up scripts.")
@_FILE
def add(  # click passes every option by name
    name: str,
    *,
    sources: tuple[str, ...],
    types: tuple[str, ...],
    subjects: tuple[str, ...],
    rate_per_s: float | None,
    burst_events: int | None,
    no_token: bool,
    exist_ok: bool,
    path: Path | None,
) -> None:
    """Create identity NAME with what it may publish, and print its first token."""
    file = _path(path)
    tokens = _load(file, missing_ok=True)
    if tokens.identity(name) is not None:
        if exist_ok:
            click.echo(
                f"{name} exists in {file}; its token was shown when it was made (rotate to get a new one).", err=True
            )
            return
        raise click.ClickException(f"{name} exists already: `rotate` gives it a new token, `grant` changes its grants")
    if no_token and not subjects:
        raise click.UsageError("--no-token needs --subject: the identity would have no way to authenticate")
    try:
        entry = IdentityEntry(
            name=name, sources=sources, types=types, subjects=subjects, rate_per_s=rate_per_s, burst_events=burst_events
        )
        tokens = tokens.with_identity(entry)
    except ValueError as exc:  # pydantic's ValidationError: a bad name, pattern or a subject used twice
        raise click.ClickException(str(exc)) from None
    if no_token:
        write_token_file(file, tokens)
        click.echo(f"{name} authenticates by client certificate ({', '.join(subjects)}).", err=True)
        return
    _issue(file, tokens, entry)


@token.command("rotate")
@click.argument("name")
@_FILE
def rotate(name: str, path: Path | None) -> None:
    """Print a new token for NAME; the old one stays valid until `revoke` (two tokens at most)."""
    file = _path(path)
    tokens = _load(file)
    entry = _identity(tokens, name)
    if len(entry.tokens) >= MAX_TOKENS:
        ids = ", ".join(t.id for t in entry.tokens)
        raise click.ClickException(f"{name} has {MAX_TOKENS} tokens ({ids}): revoke the old one first")
    _issue(file, tokens, entry)
    if entry.tokens:
        old = entry.tokens[0].id
        click.echo(
            f"Both tokens are valid; once every client sends the new one: revoke {name} --token-id {old}", err=True
        )


@token.command("revoke")
@click.argument("name")
@click.option("--token-id", required=True, help="The id of the token to revoke (see `list`).")
@_FILE
def revoke(name: str, token_id: str, path: Path | None) -> None:
    """Revoke one token of NAME (a running ingest refuses it within reload_interval_s)."""
    file = _path(path)
    tokens = _load(file)
    entry = _identity(tokens, name)
    kept = tuple(t for t in entry.tokens if t.id != token_id)
    if len(kept) == len(entry.tokens):
        raise click.ClickException(
            f"{name} has no token {token_id!r} (tokens: {', '.join(t.id for t in entry.tokens)})"
        )
    write_token_file(file, tokens.with_identity(entry.model_copy(update={"tokens": kept})))
    left = f"{len(kept)} token(s) left" if kept or entry.subjects else "no token left: it cannot authenticate"
    click.echo(f"Revoked {token_id} of {name}; {left}.", err=True)


@token.command("grant")
@click.argument("name")
@click.option("--source", "sources", multiple=True, help="Replace the allowed sources.")
@click.option("--type", "types", multiple=True, help="Replace the allowed event types.")
@click.option("--subject", "subjects", multiple=True, help="Replace the client-certificate subjects.")
@click.option("--rate-per-s", type=click.FloatRange(min=0, min_open=True), default=None, help="Events per second.")
@click.option("--burst-events", type=click.IntRange(min=1), default=None, help="Events at once before the rate.")
@_FILE
def grant(name: str, path: Path | None, **changes: Any) -> None:
    """Change what NAME may publish (the options given replace the current values; tokens stay)."""
    file = _path(path)
    tokens = _load(file)
    entry = _identity(tokens, name)
    update = {key: value for key, value in changes.items() if value not in (None, ())}
    if not update:
        raise click.UsageError("nothing to change: give --source, --type, --subject, --rate-per-s or --burst-events")
    try:
        changed = IdentityEntry.model_validate(entry.model_dump() | update)
        tokens = tokens.with_identity(changed)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    write_token_file(file, tokens)
    click.echo(f"{name} may publish types {', '.join(changed.types)} from {', '.join(changed.sources)}.", err=True)


@token.command("remove")
@click.argument("name")
@_FILE
def remove(name: str, path: Path | None) -> None:
    """Remove identity NAME and all its tokens."""
    file = _path(path)
    tokens = _load(file)
    _identity(tokens, name)
    write_token_file(file, tokens.without_identity(name))
    click.echo(f"Removed {name}.", err=True)


@token.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON (no hashes).")
@_FILE
def list_tokens(as_json: bool, path: Path | None) -> None:
    """The identities, their grants and their tokens' ids and creation times (never the hashes)."""
    tokens = _load(_path(path))
    if as_json:
        rows: list[dict[str, Any]] = [
            i.model_dump(exclude={"tokens"}) | {"tokens": [{"id": t.id, "created": t.created} for t in i.tokens]}
            for i in tokens.identities
        ]
        json.dump({"identities": rows}, sys.stdout, indent=2)
        click.echo()
        return
    for i in tokens.identities:
        ids = ", ".join(f"{t.id} ({t.created})" for t in i.tokens) or "none"
        click.echo(f"{i.name}: sources {', '.join(i.sources)}; types {', '.join(i.types)}; tokens {ids}")
        if i.subjects:
            click.echo(f"  certificate subjects: {'; '.join(i.subjects)}")
