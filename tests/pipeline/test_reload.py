"""Configuration reload: a broken file is refused and the running policies stay; a good one is
swapped in whole, by the admin endpoint or by a file change."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from prometheus_client import REGISTRY

from gateway.app import current_runtime
from gateway.config.backends import NetSuiteBackend
from gateway.config.loader import GatewayConfig
from gateway.configuration import load
from gateway.ops import reload as reload_module
from gateway.ops.reload import Reloader
from gateway.runtime import build_runtime
from gateway.store.base import Store
from tests.configs import EVENTS_SECRETS, WEBHOOK_SECRET, WEBHOOK_SECRET_ENV, write_config
from tests.e2e import payloads
from tests.harness import in_process_gateway


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return write_config(tmp_path)


def _narrow_emea_to_gb01(config_dir: Path) -> None:
    clients = config_dir / "policies" / "clients.yaml"
    text = clients.read_text()
    assert "legal_entities: [DE01, FR01, GB01]" in text
    clients.write_text(text.replace("legal_entities: [DE01, FR01, GB01]", "legal_entities: [GB01]"))


async def _emea_can_see_de01(gw_client: httpx.AsyncClient, customer_id: str) -> bool:
    response = await gw_client.get(f"/v1/customers/{customer_id}")
    assert response.status_code in (200, 404), response.text
    return response.status_code == 200


async def test_a_broken_policy_file_is_refused_and_the_running_policies_stay(
    store: Store, config_dir: Path
) -> None:
    async with (
        in_process_gateway(store, config_dir) as gw,
        gw.client() as demo,
        gw.client("crm-emea") as emea,
        gw.client("ops-admin") as ops,
    ):
        customer = (await demo.post("/v1/customers", json=payloads.customer("DE01"))).json()
        assert await _emea_can_see_de01(emea, customer["id"])

        clients = config_dir / "policies" / "clients.yaml"
        clients.write_text(clients.read_text().replace("rate_limit: standard", "rate_limit: 7", 1))
        refused = await ops.post("/admin/config/reload")
        assert refused.status_code == 400
        issues = refused.json()["issues"]
        assert any(i["file"] == "policies/clients.yaml" and i["line"] for i in issues), issues
        assert await _emea_can_see_de01(emea, customer["id"])  # old policies still serve
        assert (await ops.get("/admin/config")).json()["last_error"]

        clients.write_text(clients.read_text().replace("rate_limit: 7", "rate_limit: standard"))
        _narrow_emea_to_gb01(config_dir)
        accepted = await ops.post("/admin/config/reload")
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["generation"] == 2
        assert not await _emea_can_see_de01(emea, customer["id"])  # new policies now apply


async def test_a_refused_reload_names_its_errors_not_the_warnings_of_the_files_it_read(
    store: Store, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A scope that grants nothing is a warning (alone, the files would load); a burst of 0 is
    # the error. The refusal said both as its reasons, the warning first, without telling them
    # apart: an operator fixed the scope and was refused again.
    async with in_process_gateway(store, config_dir) as gw, gw.client("ops-admin") as ops:
        clients = config_dir / "policies" / "clients.yaml"
        text = clients.read_text()
        assert "scopes: [customers:read, sales_orders:read, invoices:read" in text
        clients.write_text(
            text.replace("sales_orders:read, invoices:read", "sales_order:read, invoices:read")
        )
        limits = config_dir / "policies" / "rate-limits.yaml"
        text = limits.read_text()
        assert "burst: 100}" in text
        limits.write_text(text.replace("burst: 100}", "burst: 0}", 1))
        with caplog.at_level("ERROR", logger="gateway.reload"):
            refused = await ops.post("/admin/config/reload")
        assert refused.status_code == 400
        (issue,) = refused.json()["issues"]
        assert issue["file"] == "policies/rate-limits.yaml" and "burst" in issue["message"]
        said = f"{issue['file']}:{issue['line']}: {issue['message']}"
        assert [error["detail"] for error in refused.json()["errors"]] == [said]
        assert (await ops.get("/admin/config")).json()["last_error"] == [said]
        (logged,) = [r.getMessage() for r in caplog.records if r.name == "gateway.reload"]
        assert logged.endswith(said) and "sales_order:read" not in logged


async def test_a_policy_whose_hmac_secret_is_too_short_for_it_is_refused_and_the_old_one_stays(
    store: Store, config_dir: Path
) -> None:
    async with in_process_gateway(store, config_dir) as gw, gw.client("ops-admin") as ops:
        auth = config_dir / "policies" / "auth.yaml"
        auth.write_text(auth.read_text().replace("algorithms: [HS256]", "algorithms: [HS512]"))
        refused = await ops.post("/admin/config/reload")
        assert refused.status_code == 400
        (issue,) = refused.json()["issues"]
        assert issue["file"] == "policies/auth.yaml"
        assert "GATEWAY_DEMO_SECRET" in issue["message"] and "at least 64" in issue["message"]
        assert (await ops.get("/admin/config")).status_code == 200  # HS256 tokens still pass


async def test_a_changed_file_is_picked_up_by_the_watcher(
    store: Store, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reload_module, "POLL_INTERVAL_S", 0.05)
    async with in_process_gateway(store, config_dir) as gw, gw.client("crm-emea") as emea:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        watcher = asyncio.create_task(reloader.watch())
        try:
            before = current_runtime(gw.app)
            _narrow_emea_to_gb01(config_dir)
            for _ in range(100):
                if current_runtime(gw.app) is not before:
                    break
                await asyncio.sleep(0.02)
            assert current_runtime(gw.app) is not before
            assert reloader.status.generation == 2
            hidden = await emea.get("/v1/customers", params={"external_ref": "X"})
            assert hidden.status_code == 200
        finally:
            watcher.cancel()


async def test_an_edit_landing_while_the_watcher_reloads_is_picked_up_by_the_next_poll(
    store: Store, config_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # routes.yaml is edited; while the watcher's reload of it is loading, clients.yaml is
    # edited too. The reload serves the old clients.yaml; the next poll must see the new one.
    monkeypatch.setattr(reload_module, "POLL_INTERVAL_S", 0.05)
    real_load = reload_module.load
    loads = 0

    def load_then_edit_clients(
        directory: Path, env: Mapping[str, str], *, serving: bool
    ) -> GatewayConfig:
        nonlocal loads
        loaded = real_load(directory, env, serving=serving)
        loads += 1
        if loads == 1:
            _narrow_emea_to_gb01(config_dir)  # the operator's second edit, before the swap
        return loaded

    monkeypatch.setattr(reload_module, "load", load_then_edit_clients)
    async with (
        in_process_gateway(store, config_dir) as gw,
        gw.client() as demo,
        gw.client("crm-emea") as emea,
    ):
        customer = (await demo.post("/v1/customers", json=payloads.customer("DE01"))).json()
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        watcher = asyncio.create_task(reloader.watch())
        try:
            routes = config_dir / "routes.yaml"
            routes.write_text(routes.read_text() + "# the first edit\n")
            for _ in range(100):
                if reloader.status.generation >= 3:
                    break
                await asyncio.sleep(0.02)
            assert (loads, reloader.status.generation) == (2, 3)
            assert not await _emea_can_see_de01(emea, customer["id"])
        finally:
            watcher.cancel()


async def test_the_watcher_goes_on_after_a_reload_that_failed_and_applies_the_next_edit(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reload_module, "POLL_INTERVAL_S", 0.05)
    config_dir = write_config(tmp_path)
    legacy = config_dir / "backends" / "legacy.yaml"
    good = legacy.read_text()
    async with in_process_gateway(store, config_dir) as gw:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        real_load = reload_module.load

        def broken_once(*args: Any, **kwargs: Any) -> Any:  # a defect in the loader
            monkeypatch.setattr(reload_module, "load", real_load)
            raise IndexError("tuple index out of range")

        monkeypatch.setattr(reload_module, "load", broken_once)
        watcher = asyncio.create_task(reloader.watch())
        try:
            legacy.write_text(good + "# first edit\n")
            await _until(lambda: bool(reloader.status.last_error))
            assert reloader.status.last_error and not watcher.done()
            legacy.write_text(good + "# second edit\n")
            await _until(lambda: reloader.status.generation == 2)
            assert reloader.status.generation == 2
        finally:
            watcher.cancel()


async def test_a_file_finished_within_the_clock_tick_of_its_half_is_still_reloaded(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The watcher saw (and refused) an editor's first write; the last lands within the same
    # tick of a coarse file clock: same mtime, but not the same file.
    monkeypatch.setattr(reload_module, "POLL_INTERVAL_S", 0.05)
    config_dir = write_config(tmp_path)
    routes = config_dir / "routes.yaml"
    full = routes.read_text() + "# edited\n"
    stamp = routes.stat().st_mtime_ns + 10_000_000
    async with in_process_gateway(store, config_dir) as gw:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        watcher = asyncio.create_task(reloader.watch())
        try:
            routes.write_text(full[: len(full) // 3])
            os.utime(routes, ns=(stamp, stamp))
            await _until(lambda: bool(reloader.status.last_error))
            assert reloader.status.last_error  # the half file was seen and refused
            routes.write_text(full)
            os.utime(routes, ns=(stamp, stamp))
            await _until(lambda: reloader.status.generation == 2)
            assert reloader.status.generation == 2, [str(i) for i in reloader.status.last_error]
        finally:
            watcher.cancel()


async def test_a_file_caught_while_it_is_written_is_not_served_though_its_half_is_valid(
    store: Store, config_dir: Path
) -> None:
    # A write caught half-way that happens to be a valid file (here routes.yaml with only the
    # first of two added lines; a clients.yaml cut after some clients would be another) was
    # loaded at once, and served until the next look. A change is loaded once two looks in a
    # row agree on it.
    routes = config_dir / "routes.yaml"
    original = routes.read_text()
    async with in_process_gateway(store, config_dir) as gw:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        routes.write_text(original + "# the change, first half\n")
        await reloader.look()
        assert reloader.status.generation == 1  # a change seen once: not loaded yet
        routes.write_text(original + "# the change, first half\n# and the second\n")
        await reloader.look()
        assert reloader.status.generation == 1  # changed again since: still being written
        await reloader.look()
        assert reloader.status.generation == 2
        assert current_runtime(gw.app).config.version == load(config_dir).version
        await reloader.look()
        assert reloader.status.generation == 2  # nothing changed since: nothing done


async def _until(condition: Callable[[], bool], deadline_s: float = 2.0) -> None:
    """Wait for `condition` (what the watcher does, polling every 0.05 s here), at most
    `deadline_s`; the assertion after says what did not happen."""
    for _ in range(int(deadline_s / 0.02)):
        if condition():
            return
        await asyncio.sleep(0.02)


def _reloads_counted(result: str) -> float:
    return REGISTRY.get_sample_value("gateway_config_reloads_total", {"result": result}) or 0.0


async def _reload_entries(ops: httpx.AsyncClient) -> list[tuple[str, str]]:
    audit = await ops.get("/admin/audit")
    assert audit.status_code == 200, audit.text
    entries = [json.loads(line) for line in audit.text.splitlines()]
    return [(e["kind"], e["actor"]) for e in entries if e["kind"] != "config.loaded"]


async def test_the_watcher_looks_past_an_editors_side_files_and_takes_the_edits_made_meanwhile(
    store: Store, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Emacs's lock and macOS's `._` file refused every reload while the editor had the file open.
    async with in_process_gateway(store, config_dir) as gw:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        (config_dir / "backends" / ".#legacy.yaml").symlink_to("ops@bastion.4242:1764670000")
        (config_dir / "backends" / "._legacy.yaml").write_bytes(b"\x00\x05\x16\x07Mac OS X")
        with caplog.at_level("INFO", logger="gateway.reload"):
            await reloader.look()
            await reloader.look()
        assert caplog.records == []  # no file of the configuration changed: nothing loaded
        _narrow_emea_to_gb01(config_dir)
        await reloader.look()
        await reloader.look()
        assert reloader.status.last_error == [] and reloader.status.generation == 2


async def test_a_signal_for_files_already_served_or_already_refused_records_nothing_again(
    store: Store, config_dir: Path
) -> None:
    # With several workers each is signalled for every reload, the one whose admin endpoint
    # did it too: the same change is recorded (and counted) once per worker.
    async with in_process_gateway(store, config_dir) as gw, gw.client("ops-admin") as ops:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        _narrow_emea_to_gb01(config_dir)
        assert await reloader.reload("admin ops-admin") == []
        served = current_runtime(gw.app)
        applied = _reloads_counted("applied")
        assert await reloader.reload_if_changed("SIGHUP") == []
        assert current_runtime(gw.app) is served and reloader.status.generation == 2

        routes = config_dir / "routes.yaml"
        good = routes.read_text()
        routes.write_text(good + "unknown_key: 1\n")
        refused = _reloads_counted("refused")
        first = await reloader.reload_if_changed("SIGHUP")
        again = await reloader.reload_if_changed("SIGHUP")
        assert first and again == first  # still refused, and still said why
        assert _reloads_counted("refused") == refused + 1
        routes.write_text(good + "other_unknown_key: 1\n")  # another edit, refused too
        assert await reloader.reload_if_changed("SIGHUP")
        assert _reloads_counted("refused") == refused + 2

        routes.write_text(good)  # back to the files served: nothing to reload, nothing wrong
        assert await reloader.reload_if_changed("SIGHUP") == []
        assert current_runtime(gw.app) is served and reloader.status.last_error == []
        assert _reloads_counted("applied") == applied
        assert await _reload_entries(ops) == [
            ("config.reloaded", "admin ops-admin"),
            ("config.refused", "SIGHUP"),
            ("config.refused", "SIGHUP"),
        ]


async def test_an_operators_reload_of_the_files_served_is_done_and_recorded(
    store: Store, config_dir: Path
) -> None:
    async with in_process_gateway(store, config_dir) as gw, gw.client("ops-admin") as ops:
        first = await ops.post("/admin/config/reload")
        again = await ops.post("/admin/config/reload")
        assert (first.status_code, again.status_code) == (200, 200)
        assert (first.json()["generation"], again.json()["generation"]) == (2, 3)
        assert first.json()["version"] == again.json()["version"] == gw.runtime.config.version
        assert await _reload_entries(ops) == [("config.reloaded", "admin ops-admin")] * 2


PARTNER_ISSUER = "https://idp.test/partner"


def _partner_key(config_dir: Path) -> ec.EllipticCurvePrivateKey:
    """A new signing key for the partner issuer, its public half written where auth.yaml says."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (config_dir / "keys").mkdir(exist_ok=True)
    (config_dir / "keys" / "partner.pem").write_bytes(pem)
    return key


def _partner_token(key: ec.EllipticCurvePrivateKey) -> str:
    now = int(time.time())
    claims = {"iss": PARTNER_ISSUER, "aud": "erp-gateway", "azp": "crm-demo", "sub": "crm-demo"}
    return jwt.encode({**claims, "iat": now, "exp": now + 300}, key, algorithm="ES256")


def _trust_only_the_partner(config_dir: Path) -> None:
    auth = config_dir / "policies" / "auth.yaml"
    auth.write_text(
        "issuers:\n"
        + "  - name: partner\n"
        + f"    issuer: {PARTNER_ISSUER}\n"
        + "    audiences: [erp-gateway]\n"
        + "    algorithms: [ES256]\n"
        + "    public_key_file: keys/partner.pem\n"
        + "    client_claim: azp\n"
    )


async def test_a_signal_after_a_key_file_the_config_names_was_replaced_serves_the_new_key(
    store: Store, config_dir: Path
) -> None:
    # Rotating an issuer's public key: the YAML files are the same, the key file is not.
    old_key = _partner_key(config_dir)
    _trust_only_the_partner(config_dir)
    async with in_process_gateway(store, config_dir) as gw:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        await current_runtime(gw.app).authenticator.authenticate(
            f"Bearer {_partner_token(old_key)}"
        )
        new_key = _partner_key(config_dir)
        assert await reloader.reload_if_changed("SIGHUP") == []
        await current_runtime(gw.app).authenticator.authenticate(
            f"Bearer {_partner_token(new_key)}"
        )
        assert reloader.status.generation == 2


async def test_a_key_file_replaced_by_a_key_that_cannot_verify_the_issuers_tokens_is_refused(
    store: Store, config_dir: Path
) -> None:
    # An RSA key where ES256 needs a P-256 one was served, and every token then refused 401.
    old_key = _partner_key(config_dir)
    _trust_only_the_partner(config_dir)
    token = f"Bearer {_partner_token(old_key)}"
    async with in_process_gateway(store, config_dir) as gw:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        (config_dir / "keys" / "partner.pem").write_bytes(
            rsa_key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        (issue,) = await reloader.reload_if_changed("SIGHUP")
        assert (issue.file, issue.line) == ("policies/auth.yaml", 6)  # public_key_file's line
        assert issue.message == (
            "public key file 'keys/partner.pem' holds an RSA key of 2048 bits, but ES256 needs "
            "an EC key on P-256"
        )
        assert reloader.status.generation == 1
        await current_runtime(gw.app).authenticator.authenticate(token)  # the old key serves


def _netsuite_key(config_dir: Path) -> ec.EllipticCurvePrivateKey:
    """A new private key for the cloud ERP, written where its backend file names it."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (config_dir / "keys").mkdir(exist_ok=True)
    (config_dir / "keys" / "netsuite.pem").write_bytes(pem)
    return key


def _sign_the_cloud_erp_with_a_key_file(config_dir: Path) -> dict[str, str]:
    """backends/cloud.yaml names keys/netsuite.pem (at its line 10), written with a new key;
    the environment the gateway then needs."""
    cloud = config_dir / "backends" / "cloud.yaml"
    text = cloud.read_text()
    assert text.splitlines()[9].startswith("  private_key_env: CLOUD_ERP_PRIVATE_KEY")
    cloud.write_text(
        text.replace(
            "private_key_env: CLOUD_ERP_PRIVATE_KEY", "private_key_file: keys/netsuite.pem"
        )
    )
    _netsuite_key(config_dir)
    return {
        "GATEWAY_DEMO_SECRET": "e2e-test-secret-not-the-dev-one-0123456789",
        "LEGACY_ERP_USER": "u",
        "LEGACY_ERP_PASSWORD": "p",
        "CLOUD_ERP_CLIENT_ID": "client",
        "CLOUD_ERP_CERTIFICATE_ID": "cert",
        WEBHOOK_SECRET_ENV: WEBHOOK_SECRET,
        **EVENTS_SECRETS,
    }


async def test_a_signal_after_the_erps_private_key_file_was_replaced_signs_with_the_new_key(
    store: Store, config_dir: Path
) -> None:
    # Rotating the cloud ERP's private key: backends/cloud.yaml is the same, the key file not.
    env = _sign_the_cloud_erp_with_a_key_file(config_dir)
    served = [build_runtime(load(config_dir, env), store, env)]
    reloader = Reloader(config_dir, current=lambda: served[-1], install=served.append)
    try:
        new_key = _netsuite_key(config_dir)
        assert await reloader.reload_if_changed("SIGHUP") == []

        adapter = served[-1].backends["cloud"].adapter
        signing = adapter._credentials.private_key  # type: ignore[attr-defined]
        assert reloader.status.generation == 2
        assert signing.public_key().public_numbers() == new_key.public_key().public_numbers()
    finally:
        for runtime in served:
            await runtime.aclose_adapters()


async def test_a_currency_map_key_that_is_no_iso_code_is_refused_and_the_last_map_serves(
    store: Store, config_dir: Path
) -> None:
    env = _sign_the_cloud_erp_with_a_key_file(config_dir)
    served = [build_runtime(load(config_dir, env), store, env)]
    reloader = Reloader(config_dir, current=lambda: served[-1], install=served.append)
    cloud = config_dir / "backends" / "cloud.yaml"
    text = cloud.read_text()
    line = text[: text.index('    EUR: "4"')].count("\n") + 1
    try:
        cloud.write_text(text.replace('    EUR: "4"', '    EUR: "4"\n    EUE: "6"'))
        (issue,) = await reloader.reload_if_changed("SIGHUP")
        assert (issue.file, issue.line) == ("backends/cloud.yaml", line + 1)
        assert "value_maps.currencies.EUE: EUE is no currency" in issue.message
        assert reloader.status.generation == 1 and len(served) == 1  # the last good one serves

        cloud.write_text(text.replace('    EUR: "4"', '    EUR: "4"\n    CHF: "6"'))
        assert await reloader.reload_if_changed("SIGHUP") == []
        backend = served[-1].config.backends["cloud"]
        assert isinstance(backend, NetSuiteBackend)
        assert reloader.status.generation == 2 and backend.value_maps.currencies["CHF"] == "6"
    finally:
        for runtime in served:
            await runtime.aclose_adapters()


def _rsa_private_key_pem() -> bytes:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize(
    ("rotated", "why"),
    [
        (lambda key: key.write_text("not a key\n"), "holds no usable private key"),
        (lambda key: key.write_bytes(_rsa_private_key_pem()), "ES256 needs an EC key"),
        (lambda key: key.unlink(), "cannot be read"),
    ],
    ids=["not-pem", "rsa-for-es256", "removed"],
)
async def test_an_erps_private_key_file_rotated_to_an_unusable_one_is_refused_at_its_line(
    store: Store, config_dir: Path, rotated: Callable[[Path], object], why: str
) -> None:
    # The refusal named neither backends/cloud.yaml nor its line: only "." and a full path.
    env = _sign_the_cloud_erp_with_a_key_file(config_dir)
    served = [build_runtime(load(config_dir, env), store, env)]
    reloader = Reloader(config_dir, current=lambda: served[-1], install=served.append)
    try:
        rotated(config_dir / "keys" / "netsuite.pem")
        (issue,) = await reloader.reload_if_changed("SIGHUP")
        assert (issue.file, issue.line) == ("backends/cloud.yaml", 10)  # private_key_file's line
        assert "private key file 'keys/netsuite.pem'" in issue.message and why in issue.message
        assert reloader.status.generation == 1 and len(served) == 1  # the last good one serves
    finally:
        for runtime in served:
            await runtime.aclose_adapters()


async def test_a_reload_says_which_files_were_changed_added_and_removed(
    store: Store, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The line said only "config reloaded" with a version: which edit it took was anyone's guess.
    async with in_process_gateway(store, config_dir) as gw:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        _narrow_emea_to_gb01(config_dir)
        (config_dir / "policies" / "operations.yaml").write_text("audit: {max_entries: 50000}\n")
        (config_dir / "policies" / "idempotency.yaml").unlink()
        with caplog.at_level("INFO", logger="gateway.reload"):
            assert await reloader.reload_if_changed("SIGHUP") == []
        (line,) = [r for r in caplog.records if r.getMessage().startswith("config reloaded")]
        assert line.getMessage() == (
            "config reloaded: changed policies/clients.yaml; added policies/operations.yaml; "
            "removed policies/idempotency.yaml"
        )
        assert (line.changed, line.added, line.removed) == (  # type: ignore[attr-defined]
            ["policies/clients.yaml"],
            ["policies/operations.yaml"],
            ["policies/idempotency.yaml"],
        )


async def test_a_reload_without_an_optional_policy_file_the_gateway_had_says_its_defaults_apply(
    store: Store, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The webhook subscriptions were dropped by a deleted file, and the log said nothing of it.
    async with in_process_gateway(store, config_dir) as gw:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        assert current_runtime(gw.app).config.subscriptions.subscriptions
        (config_dir / "policies" / "subscriptions.yaml").unlink()
        with caplog.at_level("INFO", logger="gateway.reload"):
            assert await reloader.reload_if_changed("SIGHUP") == []
        assert not current_runtime(gw.app).config.subscriptions.subscriptions
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warnings == [
            "policies/subscriptions.yaml was removed: its defaults now apply "
            "(no webhook subscriptions)"
        ]


async def test_an_optional_file_replaced_by_a_link_pointing_nowhere_is_refused_and_it_stays(
    store: Store, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Taken as the file removed: "policies/subscriptions.yaml was removed", webhooks turned off.
    async with in_process_gateway(store, config_dir) as gw:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        subscriptions = current_runtime(gw.app).config.subscriptions
        assert subscriptions.subscriptions
        file = config_dir / "policies" / "subscriptions.yaml"
        file.unlink()
        file.symlink_to("/nonexistent/subscriptions.yaml")
        (issue,) = await reloader.reload_if_changed("SIGHUP")
        assert str(issue) == (
            "policies/subscriptions.yaml: a symbolic link to /nonexistent/subscriptions.yaml, "
            "which does not exist"
        )
        assert current_runtime(gw.app).config.subscriptions is subscriptions
        assert reloader.status.generation == 1


async def test_a_reload_without_the_rate_limits_file_is_refused_and_the_limits_stay(
    store: Store, config_dir: Path
) -> None:
    async with in_process_gateway(store, config_dir) as gw:
        reloader = Reloader(config_dir, current=lambda: current_runtime(gw.app), install=gw.serve)
        limits = current_runtime(gw.app).rate_limits
        (config_dir / "policies" / "rate-limits.yaml").unlink()
        (issue,) = await reloader.reload_if_changed("SIGHUP")
        assert (issue.file, issue.message) == ("policies/rate-limits.yaml", "missing file")
        assert current_runtime(gw.app).rate_limits is limits and reloader.status.generation == 1


async def test_a_reload_naming_an_events_secret_the_process_lacks_warns_at_its_line(
    store: Store, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A backend file pointed at a new variable the running processes were not started with:
    # the reload took it, and every notification of that ERP was refused (401) unsaid.
    env = _sign_the_cloud_erp_with_a_key_file(config_dir)
    served = [build_runtime(load(config_dir, env, serving=True), store, env)]
    reloader = Reloader(config_dir, current=lambda: served[-1], install=served.append)
    legacy = config_dir / "backends" / "legacy.yaml"
    text = legacy.read_text()
    old = "  secret_env: LEGACY_EVENTS_SECRET "
    line = text[: text.index(old)].count("\n") + 1
    try:
        legacy.write_text(text.replace(old, "  secret_env: LEGACY_EVENTS_SECRET_NEXT "))
        with caplog.at_level("WARNING", logger="gateway.config"):
            assert await reloader.reload_if_changed("SIGHUP") == []
        events = served[-1].config.backends["legacy"].events
        assert events is not None and events.secret_env == "LEGACY_EVENTS_SECRET_NEXT"
        warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert warnings == [
            f"backends/legacy.yaml:{line}: backend legacy: the events secret "
            "LEGACY_EVENTS_SECRET_NEXT is not set; a gateway with this environment refuses every "
            "change notification of its ERP (401 at /erp-events/legacy): no domain events of its "
            "orders"
        ]
    finally:
        for runtime in served:
            await runtime.aclose_adapters()
