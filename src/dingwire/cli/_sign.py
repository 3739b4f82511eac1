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
      dingwire sign --secret "$DINGTALK_SECRET"
      dingwire sign --secret SECb909… --timestamp 1582163555000
      curl -H 'Content-Type: application/json' -d '{"msgtype":"text","text":{"content":"hi"}}' \\
          "$(dingwire sign --webhook "$DINGTALK_WEBHOOK" --secret "$DINGTALK_SECRET")"
    """
    import time
    from urllib.parse import quote

    from dingwire.core.signing import sign as sign_with
    from dingwire.core.signing import signed_url

    invocation.remember(secret)
    url = None
    if webhook is not None:
        from dingwire.config import settings_from_url
        from dingwire.transport.base import normalise_webhook

        if webhook.strip().startswith("dingtalk://"):
            settings = settings_from_url(webhook.strip())
            invocation.remember(settings.get("secret"))
            if secret is None:
                secret = settings.get("secret")
            url = str(settings["webhook"])
        else:
            url = normalise_webhook(webhook)
    if not secret:
        raise click.UsageError("give the secret: --secret SEC… or DINGWIRE_SECRET")
    secret = secret.strip()
    timestamp_ms = timestamp if timestamp is not None else round(time.time() * 1000)
    if url is not None:
        click.echo(signed_url(url, secret, timestamp_ms))
        return
    click.echo(timestamp_ms)
    click.echo(quote(sign_with(secret, timestamp_ms), safe=""))
