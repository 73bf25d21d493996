"""How the benchmark's profiles say where a request's CPU goes (`bench.profiler`,
`bench.results`): each sample counted in the part of the server it ran in, and the parts of
the gateway set beside the bare proxy's."""

from __future__ import annotations

import pytest

from bench.profiler import OTHER, part_of, parts
from bench.results import BARE, GATEWAY, Profiled, Run, breakdown, markdown

SERVER = ("Runner.run (asyncio/runners.py)", "RequestResponseCycle.run_asgi (uvicorn/x.py)")
ANSWER = (*SERVER, "GatewayApp.__call__ (gateway/app.py)", "answer (gateway/app.py)")


@pytest.mark.parametrize(
    ("frames", "part"),
    [
        ((*SERVER, "RequestResponseCycle.send (uvicorn/protocols/http/httptools_impl.py)"),
         "HTTP server (uvicorn, httptools)"),
        ((*ANSWER, "Admit.__call__ (gateway/pipeline/admission.py)"), "gateway: pipeline steps"),
        # The standard library and generated code count in the part that called them.
        ((*ANSWER, "number (gateway/adapters/netsuite/fields.py)", "_b32encode (base64.py)"),
         "gateway: ERP mapping (adapters)"),
        ((*ANSWER, "gcra (gateway/store/gcra.py)", "__create_fn__.<locals>.__init__ (<string>)"),
         "gateway: store"),
        # The shared ERP client, whether the gateway or the bare proxy calls it.
        ((*ANSWER, "_attempt (gateway/adapters/http.py)", "_request (aiohttp/client.py)"),
         "ERP client (aiohttp, AiohttpTransport)"),
        ((*ANSWER, "request (gateway/adapters/http.py)"), "ERP client (aiohttp, AiohttpTransport)"),
        ((*SERVER, "forward (bench/bare_proxy.py)"), "the bare proxy's endpoint"),
        ((*ANSWER, "timeout (asyncio/timeouts.py)"), "event loop (asyncio, uvloop)"),
        (("_run_module_as_main (<frozen runpy>)", "<module> (site.py)"), OTHER),
    ],
)  # fmt: skip
def test_a_sample_counts_in_the_part_its_innermost_known_frame_belongs_to(
    frames: tuple[str, ...], part: str
) -> None:
    assert part_of(frames) == part


def test_parts_add_up_every_sample_most_first() -> None:
    stacks = [
        ((*ANSWER, "Admit.__call__ (gateway/pipeline/admission.py)"), 3),
        ((*ANSWER, "Routing.__call__ (gateway/pipeline/routing.py)"), 4),
        ((*SERVER, "RequestResponseCycle.send (uvicorn/h.py)"), 2),
    ]
    counted = parts(stacks)
    assert counted == {"gateway: pipeline steps": 7, "HTTP server (uvicorn, httptools)": 2}
    assert list(counted) == ["gateway: pipeline steps", "HTTP server (uvicorn, httptools)"]


def profiled(server: str, scenario: str, cpu_ms: float, counted: dict[str, int]) -> Profiled:
    return Profiled(server, scenario, f"{server}.svg", sum(counted.values()), [], counted, cpu_ms)


def test_each_part_gets_its_share_of_the_cpu_and_the_gateway_is_set_beside_the_bare_proxy() -> None:
    gateway = profiled(GATEWAY, "GET sales order v2", 0.8, {"ERP client": 30, "pipeline": 50})
    bare = profiled(BARE, "GET sales order", 0.4, {"ERP client": 75, "server": 25})
    assert gateway.part_ms() == pytest.approx({"ERP client": 0.3, "pipeline": 0.5})
    rows = breakdown(gateway, bare)
    # The parts the gateway spends most more on first; a part one of them lacks is 0 there.
    assert [part for part, _, _ in rows] == ["pipeline", "ERP client", "server"]
    assert rows[0] == pytest.approx(("pipeline", 0.0, 0.5))
    assert rows[1] == pytest.approx(("ERP client", 0.3, 0.3))
    assert rows[2] == pytest.approx(("server", 0.1, 0.0))
    run = Run("a machine", "make bench", "today", "", profiles=[gateway, bare])
    report = markdown(run)
    assert "| pipeline | 0.000 | 0.500 | +0.500 |" in report
    assert "| **all** | 0.400 | 0.800 | +0.400 |" in report


def test_without_the_bare_proxys_profile_the_gateways_stands_alone() -> None:
    run = Run("m", "c", "d", "", profiles=[profiled(GATEWAY, "POST sales order", 1.0, {"x": 1})])
    report = markdown(run)
    assert "Profile of the gateway under POST sales order" in report
    assert "gateway - bare" not in report
