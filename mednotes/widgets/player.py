"""The static twin's player: matplotlib's JavaScript animation, made to work offline."""

from __future__ import annotations

import re

from matplotlib import animation

# matplotlib's player draws its buttons with Font Awesome from a CDN; an offline page would show
# empty buttons. These glyphs need no font download.
_PLAYER_GLYPHS = {
    "fa fa-minus": "−", "fa fa-fast-backward": "|◀◀", "fa fa-step-backward": "|◀",
    "fa fa-play fa-flip-horizontal": "◀", "fa fa-pause": "❚❚", "fa fa-play": "▶",
    "fa fa-step-forward": "▶|", "fa fa-fast-forward": "▶▶|", "fa fa-plus": "+",
}
_CDN_LINK = re.compile(r"<link[^>]+href=[\"']https?://[^>]*>\s*", re.IGNORECASE)
_ICON = re.compile(r'<i class="(fa [^"]+)"></i>')


def animation_html(anim: animation.Animation, *, mode: str = "loop") -> str:
    """HTML for the static twin of an explorer: a frame player that works offline.

    Like ``anim.to_jshtml()``, but the page loads nothing from the network: the player's
    icon font (fetched from a CDN by matplotlib) is replaced by plain Unicode glyphs.

    Args:
        anim: a matplotlib animation, e.g. from :func:`~mednotes.widgets.window_animation`.
        mode: ``"loop"``, ``"once"`` or ``"reflect"``, what the player does at the end.

    Example:
        >>> from mednotes.data import ct_slice
        >>> from mednotes.widgets import window_animation
        >>> html = animation_html(window_animation(ct_slice()[0], steps=1))
        >>> "https://" in html, "▶" in html
        (False, True)
    """
    if mode not in ("loop", "once", "reflect"):
        raise ValueError(f"mode must be 'loop', 'once' or 'reflect', got {mode!r}")
    html = anim.to_jshtml(default_mode=mode)
    html = _CDN_LINK.sub("", html)
    return _ICON.sub(lambda m: f'<span aria-hidden="true">{_PLAYER_GLYPHS.get(m.group(1), "•")}</span>', html)
