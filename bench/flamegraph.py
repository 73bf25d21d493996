"""Flame graphs of collapsed stacks (py-spy's raw format, one `frame;frame;...;leaf count` a
line): an SVG to open in a browser, and the functions with the most samples of their own.

Not how the samples are taken (see `bench.profiler`).
"""

from __future__ import annotations

import hashlib
import html
from collections import Counter
from dataclasses import dataclass, field

WIDTH = 1200.0
FRAME_H = 16
TOP = 40  # room for the title
MIN_WIDTH = 0.2  # narrower frames are left out: invisible anyway
CHAR_W = 6.5  # of the 11 px monospace label, to fit a label into its frame


Stack = tuple[tuple[str, ...], int]


def parse(text: str) -> list[Stack]:
    """The stacks and their sample counts; malformed lines are skipped."""
    stacks = []
    for line in text.splitlines():
        frames, _, count = line.rpartition(" ")
        if frames and count.isdigit():
            stacks.append((tuple(frames.split(";")), int(count)))
    return stacks


def own_time(stacks: list[Stack]) -> tuple[list[tuple[str, int]], int]:
    """Functions by the samples in which they were running themselves (the stack's leaf), most
    first, and the total number of samples."""
    own: Counter[str] = Counter()
    for frames, count in stacks:
        own[frames[-1]] += count
    return own.most_common(), sum(own.values())


@dataclass
class _Node:
    name: str
    samples: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(stacks: list[Stack]) -> _Node:
    root = _Node("all")
    for frames, count in stacks:
        node = root
        node.samples += count
        for frame in frames:
            node = node.children.setdefault(frame, _Node(frame))
            node.samples += count
    return root


def _depth(node: _Node) -> int:
    return 1 + max((_depth(child) for child in node.children.values()), default=0)


def _colour(name: str) -> str:
    # The same function gets the same warm colour in every graph.
    digest = hashlib.blake2b(name.encode(), digest_size=3).digest()
    return f"rgb({205 + digest[0] % 50},{digest[1] % 180},{digest[2] % 55})"


def svg(stacks: list[Stack], title: str) -> str:
    """A flame graph: the root at the bottom, each frame as wide as its share of the samples;
    hovering a frame shows its name, samples and share."""
    root = _tree(stacks)
    total = max(root.samples, 1)
    height = TOP + _depth(root) * FRAME_H + 10
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH:.0f}" height="{height}" '
        f'font-family="monospace" font-size="11">',
        f'<rect width="100%" height="100%" fill="#fdf8ef"/>'
        f'<text x="{WIDTH / 2:.0f}" y="24" text-anchor="middle" font-size="15">'
        f"{html.escape(title)} ({total} samples)</text>",
    ]

    def draw(node: _Node, x: float, level: int) -> None:
        width = WIDTH * node.samples / total
        if width < MIN_WIDTH:
            return
        y = height - 10 - (level + 1) * FRAME_H
        label = f"{node.name} ({node.samples} samples, {100 * node.samples / total:.1f}%)"
        parts.append(
            f"<g><title>{html.escape(label)}</title>"
            f'<rect x="{x:.1f}" y="{y}" width="{width:.1f}" height="{FRAME_H - 1}" '
            f'fill="{_colour(node.name)}" rx="2"/>'
        )
        fits = int(width / CHAR_W)
        if fits >= 3:
            text = node.name if len(node.name) <= fits else node.name[: fits - 2] + ".."
            parts.append(f'<text x="{x + 3:.1f}" y="{y + 11}">{html.escape(text)}</text>')
        parts.append("</g>")
        for child in sorted(node.children.values(), key=lambda c: c.name):
            draw(child, x, level + 1)
            x += WIDTH * child.samples / total

    draw(root, 0.0, 0)
    parts.append("</svg>")
    return "\n".join(parts)
