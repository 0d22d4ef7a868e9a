"""Who is on a WebSocket, found on the thread pool.

Channels' AuthMiddleware looks the session and user up on the one thread that runs thread-sensitive
code, so when a thousand students reconnect at once (a server restart, a network blip) they queue behind
one another, and Daphne drops those still waiting after its handshake timeout. The lookup needs no
particular thread: here it runs side by side on the pool, as Django's own async views would.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from channels.auth import AuthMiddleware, get_user
from channels.sessions import CookieMiddleware, SessionMiddleware

from proctor.db import pooled_database_call

if TYPE_CHECKING:
    from channels.consumer import _ChannelScope

# The plain function Channels wraps in its database_sync_to_async (which keeps it as .func).
_get_user_sync = cast(Any, get_user).func


class PooledAuthMiddleware(AuthMiddleware):
    async def resolve_scope(self, scope: _ChannelScope) -> None:
        user = await pooled_database_call(_get_user_sync)(scope)
        scope["user"]._wrapped = user  # type: ignore[union-attr]  # populate_scope has set it


def PooledAuthMiddlewareStack(inner: Any) -> Any:  # noqa: N802 (named like Channels' AuthMiddlewareStack)
    return CookieMiddleware(SessionMiddleware(PooledAuthMiddleware(inner)))
