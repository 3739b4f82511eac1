"""``dingwire sign``: DingTalk's 加签 by hand, printed the way DingTalk's own sample prints it.

Rules kept here:

- Without ``--webhook`` the output is two lines, the timestamp in milliseconds and the
  URL-encoded sign, exactly what the seed's script prints; with ``--webhook``, one line:
  the signed URL. Both are printed in full, because asking for them is the point; nothing
  else this command prints ever holds the secret.
- The signature is :func:`dingwire.sign`, the one signing function; the sign is URL-encoded
  once, here, as the seed's ``quote_plus`` does (the base64 alphabet has no spaces, so
  ``quote`` and ``quote_plus`` agree).
"""

from __future__ import annotations

import click
from click.core import ParameterSource

from dingwire.cli._app import Invocation

__all__ = ["sign"]


@click.command()
@click.option(
    "--secret",
    metavar="SECRET",
    envvar="DINGWIRE_SECRET",
    help="The robot's signing (加签) secret, SEC…. [env: DINGWIRE_SECRET]",
)
@click.option(
    "--timestamp",
    metavar="MS",
    type=click.IntRange(min=0),
    help="Milliseconds since the epoch. Default: now.",
)
@click.option(
    "--webhook",
    metavar="URL",
    help="Print this webhook signed instead (a URL, an access token, or "
    "dingtalk://SECRET@TOKEN, whose secret then needs no --secret).",
)
@click.pass_obj
def sign(
    invocation: Invocation, secret: str | None, timestamp: int | None, webhook: str | None
) -> None:
    """Print the timestamp and sign for a secret.

    Prints the timestamp (ms) and the URL-encoded sign, one per line, like DingTalk's
    sample; with --webhook, the whole signed URL. A sign is good for one hour.

    \b
    Examples:
      dingwire sign                   # the secret from DINGWIRE_SECRET
      dingwire sign --secret SECb909… --timestamp 1582163555000
      curl -H 'Content-Type: application/json' -d '{"msgtype":"text","text":{"content":"hi"}}' \\
          "$(dingwire sign --webhook "$DINGWIRE_WEBHOOK")"
    """
    import time
    from urllib.parse import quote

    from dingwire.core.signing import sign as sign_with
    from dingwire.core.signing import signed_url

    invocation.remember(secret)
    if secret is not None and not secret.strip():
        raise click.UsageError(
            "the secret is empty (--secret or DINGWIRE_SECRET): give the robot's SEC… secret"
        )
    url = None
    if webhook is not None:
        from dingwire.config import webhook_secrets, webhook_settings
        from dingwire.core.urls import normalise_webhook

        invocation.remember(*webhook_secrets(webhook))
        source = click.get_current_context().get_parameter_source("secret")
        named = "DINGWIRE_SECRET" if source is ParameterSource.ENVIRONMENT else "--secret"
        settings = webhook_settings(webhook, secret, secret_from=named)
        secret = settings.get("secret")
        url = normalise_webhook(str(settings["webhook"]))
    if not secret:
        raise click.UsageError("give the secret: --secret SEC… or DINGWIRE_SECRET")
    secret = secret.strip()
    timestamp_ms = timestamp if timestamp is not None else round(time.time() * 1000)
    if url is not None:
        click.echo(signed_url(url, secret, timestamp_ms))
        return
    click.echo(timestamp_ms)
    click.echo(quote(sign_with(secret, timestamp_ms), safe=""))
