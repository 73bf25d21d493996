// The operations dashboard: reads the gateway's admin API with the operator's token (kept in
// this tab's sessionStorage, sent only as an Authorization header) and redraws in place every
// few seconds. Everything shown is built as DOM nodes with textContent, never parsed as HTML:
// transactions carry text from clients and ERPs.
"use strict";

(function () {
  const REFRESH_MS = 5000;
  const PAGE_SIZE = 25;
  const FAILED_SHOWN = 10;
  const TOKEN_KEY = "gateway-ops-token";
  const ADMIN = "/admin";
  const SUBSCRIPTIONS = `${ADMIN}/events/subscriptions`;
  const DISABLED = "disabled";
  const FAILED = "failed";
  const REJECTED = "rejected";
  const SETTLED_WELL = new Set(["accepted", "on_hold"]);
  const BREAKER_LABELS = { closed: "Closed", half_open: "Half-open", open: "Open" };
  const AGES = ["lt_1h", "1h_to_24h", "gt_24h"];

  const byId = (id) => document.getElementById(id);

  const state = {
    generation: 0, // bumped by every refresh; an answer to an older one is dropped
    timer: null,
    filters: {},
    items: [], // the transactions listed, newest first
    cursor: null, // where "More" continues
    extended: false, // whether "More" was used since the filters last changed
    selected: null, // the id whose details are shown
    actionsFor: null, // "id status" the detail's actions were drawn for
    rows: new WeakMap(), // per tbody: key -> {signature, node}
  };

  // -- DOM ---------------------------------------------------------------------------------

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "className") node.className = value;
      else if (name === "text") node.textContent = value;
      else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === "") continue;
      node.append(child instanceof Node ? child : String(child));
    }
    return node;
  }

  // Puts `nodes` in `parent` in this order, moving only what must move, so that a row that did
  // not change keeps its focus and selection across refreshes.
  function reconcile(parent, nodes) {
    const keep = new Set(nodes);
    for (const child of Array.from(parent.children)) {
      if (!keep.has(child)) child.remove();
    }
    nodes.forEach((node, index) => {
      const present = parent.children[index] || null;
      if (present !== node) parent.insertBefore(node, present);
    });
  }

  // Rows of a tbody, one per item; a row is rebuilt only when what it shows changed.
  function drawRows(tbody, items, keyOf, cellsOf, columns, empty) {
    let cache = state.rows.get(tbody);
    if (!cache) state.rows.set(tbody, (cache = new Map()));
    const seen = new Map();
    const nodes = items.map((item) => {
      const key = keyOf(item);
      const signature = JSON.stringify(item);
      let row = cache.get(key);
      if (!row || row.signature !== signature) {
        row = { signature, node: el("tr", { "data-key": key }, cellsOf(item)) };
      }
      seen.set(key, row);
      return row.node;
    });
    state.rows.set(tbody, seen);
    if (nodes.length === 0) {
      nodes.push(el("tr", { className: "empty" }, el("td", { colspan: columns, text: empty })));
    }
    reconcile(tbody, nodes);
  }

  function badge(status) {
    return el("span", { className: `badge s-${status}`, "data-status": status, text: statusLabel(status) });
  }

  function statusLabel(status) {
    return String(status || "").replace(/_/g, " ");
  }

  function showAlert(message) {
    const alert = byId("alert");
    alert.textContent = message;
    alert.hidden = !message;
  }

  function report(target, message, kind) {
    target.textContent = message;
    target.className = `outcome ${kind || ""}`;
  }

  // -- Time --------------------------------------------------------------------------------

  const clock = new Intl.DateTimeFormat(undefined, {
    hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false,
  });
  const calendar = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    hour12: false, timeZoneName: "short",
  });

  function moment(iso) {
    if (!iso) return "";
    const at = new Date(iso);
    const today = at.toDateString() === new Date().toDateString();
    return el("time", { datetime: iso, title: iso, text: today ? clock.format(at) : calendar.format(at) });
  }

  function fromNow(iso) {
    let seconds = Math.round((new Date(iso).getTime() - Date.now()) / 1000);
    const past = seconds < 0;
    seconds = Math.abs(seconds);
    const parts = [];
    for (const [unit, size] of [["d", 86400], ["h", 3600], ["min", 60]]) {
      if (seconds >= size && parts.length < 2) {
        parts.push(`${Math.floor(seconds / size)} ${unit}`);
        seconds %= size;
      }
    }
    if (parts.length === 0) parts.push(`${seconds} s`);
    return past ? `${parts.join(" ")} ago` : `in ${parts.join(" ")}`;
  }

  // -- The admin API -----------------------------------------------------------------------

  class ApiError extends Error {
    constructor(status, problem, message) {
      super(message);
      this.status = status;
      this.problem = problem || {};
    }
    get refusesToken() {
      return this.status === 401 || this.status === 403;
    }
  }

  async function api(path, method, body) {
    const headers = { Accept: "application/json, application/problem+json" };
    headers.Authorization = `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}`;
    const init = { method: method || "GET", headers, cache: "no-store", credentials: "omit" };
    if (body !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, init);
    } catch (error) {
      throw new ApiError(0, null, `The gateway did not answer (${error.message}).`);
    }
    const text = await response.text();
    let document = null;
    try {
      document = text ? JSON.parse(text) : null;
    } catch (error) {
      document = null;
    }
    if (!response.ok) {
      throw new ApiError(response.status, document, text.slice(0, 200) || response.statusText);
    }
    return document;
  }

  // What an operator reads for a refusal: what happened, why (the problem's detail and field
  // errors), what to do, and the correlation id to find it in the logs.
  function describe(error) {
    if (!(error instanceof ApiError)) return `The page failed: ${error.message}`;
    if (error.status === 0) return error.message;
    const problem = error.problem;
    const code = problem.code ? ` ${problem.code}` : "";
    let advice = "";
    if (error.status === 401) advice = " Enter a valid admin token: it may have expired.";
    if (error.status === 403) advice = " Use a token of a client granted gateway:admin.";
    const reference = problem.correlation_id ? ` (correlation id ${problem.correlation_id})` : "";
    const what = error.status === 401 ? "The gateway refused the token"
      : error.status === 403 ? "This token may not use the admin API"
        : problem.title || "The request failed";
    return `${what} (${error.status}${code}): ${problemText(problem, error.message)}.${advice}${reference}`;
  }

  // A problem's detail and the fields it points at, as one sentence without its full stop.
  function problemText(problem, fallback) {
    const detail = String(problem.detail || problem.title || fallback || "").replace(/\.$/, "");
    const fields = (problem.errors || [])
      .map((e) => String(e.pointer ? `${e.pointer}: ${e.detail}` : e.detail).replace(/\.$/, ""))
      .join("; ");
    return fields ? `${detail} (${fields})` : detail;
  }

  function transactionsPath(filters, extra) {
    const query = new URLSearchParams();
    for (const [name, value] of Object.entries({ ...filters, ...extra })) {
      if (value !== "" && value !== null && value !== undefined) query.set(name, value);
    }
    return `${ADMIN}/transactions?${query}`;
  }

  function transactionPath(id, action) {
    return `${ADMIN}/transactions/${encodeURIComponent(id)}${action ? `/${action}` : ""}`;
  }

  function subscriptionPath(id, action) {
    return `${SUBSCRIPTIONS}${id ? `/${encodeURIComponent(id)}/${action}` : ""}`;
  }

  // -- Token -------------------------------------------------------------------------------

  // The token's client and expiry, read from its payload for display only (the gateway checks it).
  function claimsOf(token) {
    try {
      const payload = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      return JSON.parse(atob(payload));
    } catch (error) {
      return {};
    }
  }

  function showToken() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    byId("token-entry").hidden = Boolean(token);
    byId("token-held").hidden = !token;
    if (!token) return;
    const claims = claimsOf(token);
    const who = claims.azp || claims.client_id || claims.sub || "an unknown client";
    const until = claims.exp ? `, expires ${calendar.format(new Date(claims.exp * 1000))}` : "";
    byId("token-who").textContent = `Token of ${who}${until}.`;
  }

  function connect(token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    byId("token").value = "";
    showToken();
    showAlert("");
    refresh();
  }

  function disconnect(message) {
    sessionStorage.removeItem(TOKEN_KEY);
    state.generation += 1;
    clearTimeout(state.timer);
    showToken();
    showAlert(message);
    byId("freshness").textContent = "Not connected.";
    byId("token").focus();
  }

  // -- Overview ----------------------------------------------------------------------------

  function drawMap(rows, backends) {
    const names = backends.map((b) => b.backend);
    for (const row of rows) {
      for (const name of [row.backend, row.next && row.next.backend]) {
        if (name && !names.includes(name)) names.push(name);
      }
    }
    const table = byId("map");
    const head = el("tr", {}, el("th", { scope: "col", text: "Legal entity" }),
      names.map((name) => el("th", { scope: "col", text: name })),
      el("th", { scope: "col", text: "Freeze" }));
    const headSignature = names.join(" ");
    if (table.tHead.dataset.backends !== headSignature) {
      table.tHead.replaceChildren(head);
      table.tHead.dataset.backends = headSignature;
      state.rows.delete(table.tBodies[0]);
    }
    // When the next wave comes is part of what a row shows, so it is redrawn as that moves.
    const shown = rows.map((row) => ({ ...row, due: row.next ? fromNow(row.next.at) : null }));
    drawRows(table.tBodies[0], shown, (row) => row.legal_entity, (row) => [
      el("th", { scope: "row" }, el("strong", { text: row.legal_entity }), " ",
        el("span", { className: "note", text: `${row.name}, ${row.region}` })),
      names.map((name) => {
        if (name === row.backend) {
          return el("td", { className: "now" }, el("span", { className: "here", text: "new orders now" }),
            el("span", { className: "note", text: ` rule ${row.rule}` }));
        }
        if (row.next && name === row.next.backend) {
          return el("td", { className: "next" }, "next wave ", moment(row.next.at),
            el("span", { className: "note", text: ` (${row.due}, rule ${row.next.rule})` }));
        }
        return el("td", {});
      }),
      freezeCell(row),
    ], names.length + 2, "No legal entities in routes.yaml.");
  }

  function freezeCell(row) {
    if (row.freeze) {
      return el("td", { className: "frozen" }, el("strong", { text: "Frozen now" }),
        row.freeze.ends ? [" until ", moment(row.freeze.ends)] : "", `: ${row.freeze.reason || row.freeze.id}`);
    }
    if (row.next_freeze) {
      return el("td", {}, "Freeze from ", moment(row.next_freeze.starts),
        row.next_freeze.ends ? [" until ", moment(row.next_freeze.ends)] : "",
        `: ${row.next_freeze.reason || row.next_freeze.id}`);
    }
    return el("td", { className: "note", text: "none" });
  }

  function drawBreakers(backends) {
    const list = byId("breakers");
    const nodes = backends.map(({ backend, kind, breaker }) => {
      const label = BREAKER_LABELS[breaker.state] || breaker.state;
      return el("li", { className: `breaker b-${breaker.state}`, "data-backend": backend },
        el("h3", {}, backend, " ", el("span", { className: "note", text: kind })),
        el("p", { className: "breaker-state", text: breaker.enabled ? label : `${label} (breaker off)` }),
        el("p", { text: `${breaker.failures} / ${breaker.threshold} failures in a row` }),
        breaker.state === "open" ? el("p", { text: `trial request in ${Math.ceil(breaker.retry_in_s)} s` }) : "",
        el("p", { className: "note", text: `opened ${breaker.opened} times; cool-down ${breaker.cool_down_s} s` }));
    });
    list.replaceChildren(...nodes);
  }

  function drawFigures(figures) {
    const rows = new Map();
    const rowFor = (item) => {
      const key = `${item.legal_entity} ${item.backend}`;
      if (!rows.has(key)) {
        rows.set(key, { legal_entity: item.legal_entity, backend: item.backend, accepted: 0, on_hold: 0, rejected: 0, mean_s: null, customers: 0 });
      }
      return rows.get(key);
    };
    for (const item of figures.orders || []) rowFor(item)[item.outcome] = item.count;
    for (const item of figures.order_acceptance || []) rowFor(item).mean_s = item.mean_s;
    for (const item of figures.customers_created || []) rowFor(item).customers = item.count;
    const sorted = Array.from(rows.values()).sort((a, b) =>
      `${a.legal_entity} ${a.backend}`.localeCompare(`${b.legal_entity} ${b.backend}`));
    drawRows(byId("figures").tBodies[0], sorted, (row) => `${row.legal_entity} ${row.backend}`, (row) => [
      el("th", { scope: "row", text: row.legal_entity }),
      el("td", { text: row.backend }),
      el("td", { className: "num", text: row.accepted }),
      el("td", { className: "num", text: row.on_hold }),
      el("td", { className: `num${row.rejected ? " warn" : ""}`, text: row.rejected }),
      el("td", { className: "num", text: row.mean_s === null ? "" : `${row.mean_s.toFixed(2)} s` }),
      el("td", { className: "num", text: row.customers }),
    ], 7, "No orders or customers yet.");
    // A regional operator's overview has no ERP retries: they are counted per backend, every
    // legal entity's together, and the page says so rather than "none".
    if (!figures.erp_retries) {
      byId("retries").textContent = "ERP retries are counted for every legal entity together: not shown to this token.";
      return;
    }
    const retries = figures.erp_retries.map((r) => `${r.backend} ${r.count} (${r.reason})`);
    byId("retries").textContent = retries.length ? `ERP retries: ${retries.join(", ")}.` : "No ERP retries.";
  }

  function drawExceptions(counts) {
    for (const age of AGES) {
      const cell = document.querySelector(`#exceptions [data-age="${age}"]`);
      const count = counts[age] || 0;
      cell.textContent = String(count);
      cell.className = count ? "alarm" : "";
    }
  }

  // The filters' choices come from the configuration, which a reload may change.
  function offerChoices(name, values) {
    const select = byId("filters").elements[name];
    const offered = Array.from(select.options).slice(1).map((o) => o.value);
    if (offered.join(" ") === values.join(" ")) return;
    const chosen = select.value;
    select.replaceChildren(select.options[0], ...values.map((v) => el("option", { value: v, text: v })));
    select.value = values.includes(chosen) ? chosen : "";
  }

  function drawOverview(overview) {
    byId("instance").textContent = overview.instance;
    drawMap(overview.migration_map, overview.backends);
    drawBreakers(overview.backends);
    drawFigures(overview.figures);
    drawExceptions(overview.open_exceptions);
    offerChoices("legal_entity", overview.migration_map.map((row) => row.legal_entity));
    offerChoices("backend", overview.backends.map((b) => b.backend));
    const at = new Date(overview.at);
    byId("freshness").textContent =
      `Updated ${clock.format(at)}; configuration ${overview.config_version}.`;
  }

  // -- Transactions ------------------------------------------------------------------------

  function idButton(item) {
    return el("button", {
      type: "button", className: "link", "data-transaction": item.id,
      title: item.id, "aria-label": `Details of ${item.id}`, onclick: () => select(item.id),
    }, item.id);
  }

  function errorText(item) {
    return item.error ? item.error.code : "";
  }

  function drawTransactions() {
    const tbody = byId("transactions").tBodies[0];
    drawRows(tbody, state.items, (item) => item.id, (item) => [
      el("td", {}, moment(item.arrived_at)),
      el("td", {}, idButton(item)),
      el("td", {}, badge(item.status)),
      el("td", { text: item.operation }),
      el("td", { text: item.legal_entity || "" }),
      el("td", { text: item.backend || "" }),
      el("td", { text: item.client || "" }),
      el("td", {}, el("span", { className: "mono clip", title: item.correlation_id, text: item.correlation_id || "" })),
      el("td", { text: item.erp_document || "" }),
      el("td", { text: errorText(item) }),
    ], 10, "No transactions match.");
    for (const row of tbody.rows) {
      const selected = row.dataset.key === state.selected;
      row.classList.toggle("selected", selected);
      if (selected) row.setAttribute("aria-current", "true");
      else row.removeAttribute("aria-current");
    }
    byId("more").hidden = !state.cursor;
    byId("listed").textContent = `${state.items.length} shown${state.cursor ? "; older ones under More" : ""}.`;
  }

  // The first page is the truth for what it covers; pages "More" added below it stay. The
  // journal lists entries in the order they were written, which a later entry never changes:
  // what was below the page's last entry is below it still.
  function mergeFirstPage(page) {
    if (!state.extended || page.next_cursor === null || page.items.length === 0) {
      state.items = page.items;
      state.cursor = page.next_cursor;
      state.extended = false;
      return;
    }
    const last = page.items[page.items.length - 1];
    const reached = state.items.findIndex((item) => item.id === last.id);
    if (reached === -1) {
      // More new ones than a page since the last poll: the rows shown are not below this page
      // but further down, past ones no page has brought. Start again from this page.
      state.items = page.items;
      state.cursor = page.next_cursor;
      state.extended = false;
      return;
    }
    const shown = new Set(page.items.map((item) => item.id));
    const below = state.items.slice(reached + 1);
    state.items = page.items.concat(below.filter((item) => !shown.has(item.id)));
  }

  async function more() {
    if (!state.cursor) return; // nothing further down, or the first page still to come
    const generation = state.generation;
    const button = byId("more");
    button.disabled = true;
    try {
      const page = await api(transactionsPath(state.filters, { limit: PAGE_SIZE, cursor: state.cursor }));
      if (generation !== state.generation) return;
      const known = new Set(state.items.map((item) => item.id));
      state.items = state.items.concat(page.items.filter((item) => !known.has(item.id)));
      state.cursor = page.next_cursor;
      state.extended = true;
      drawTransactions();
    } catch (error) {
      fail(error);
    } finally {
      button.disabled = false;
    }
  }

  function drawFailed(page) {
    const items = page.items;
    byId("failed-more").textContent = page.next_cursor
      ? `Only the newest ${items.length} are here: filter the transactions by status failed for the others.`
      : "";
    drawRows(byId("failed").tBodies[0], items, (item) => item.id, (item) => [
      el("td", {}, moment(item.arrived_at)),
      el("td", {}, idButton(item)),
      el("td", { text: item.operation }),
      el("td", { text: item.legal_entity || "" }),
      el("td", { text: item.backend || "" }),
      el("td", { text: item.client || "" }),
      el("td", { title: item.error ? item.error.detail : "" }, errorText(item),
        item.outcome_unknown ? el("span", { className: "note", text: " (outcome unknown)" }) : ""),
      el("td", { className: "num", text: item.attempts }),
      el("td", {}, el("button", {
        type: "button", className: "replay", "data-replay": item.id, "aria-label": `Replay ${item.id}`,
        onclick: (event) => replay(item.id, undefined, byId("attention-outcome"), event.currentTarget),
      }, "Replay")),
    ], 9, "No failed transactions.");
  }

  // -- Webhook subscriptions ---------------------------------------------------------------

  // Each subscription, enabled or disabled (since when, by which URL's answer), and its dead
  // letters waiting; a disabled one gets an Enable button.
  function drawSubscriptions(page) {
    drawRows(byId("subscriptions").tBodies[0], page.items, (item) => item.id, (item) => {
      const why = item.disabled;
      return [
        el("th", { scope: "row", className: "mono", text: item.id }),
        el("td", { text: item.client }),
        el("td", {}, el("span", { className: "mono", text: item.url })),
        el("td", {}, badge(item.state), why ? [" since ", moment(why.at),
          el("span", { className: "note", text: ` (HTTP ${why.status} from ${why.url})` })] : ""),
        el("td", { className: `num dead-letters${item.dead_letters ? " warn" : ""}`, text: item.dead_letters }),
        el("td", {}, item.state === DISABLED ? el("button", {
          type: "button", className: "replay", "data-enable": item.id, "aria-label": `Enable ${item.id}`,
          onclick: (event) => enable(item, event.currentTarget),
        }, "Enable") : ""),
      ];
    }, 6, "No webhook subscriptions (policies/subscriptions.yaml).");
  }

  async function enable(item, button) {
    const outcome = byId("subscriptions-outcome");
    button.disabled = true;
    report(outcome, `Enabling ${item.id}...`, "");
    try {
      await api(subscriptionPath(item.id, "enable"), "POST");
      const waiting = item.dead_letters
        ? ` Its ${item.dead_letters} dead letters are not sent: replay them (its only) with ` +
          `gateway events dead-letters --subscription ${item.id} --replay.`
        : "";
      report(outcome, `Enabled ${item.id}: its new events are sent to ${item.url}.${waiting}`, "good");
    } catch (error) {
      if (error.refusesToken) {
        disconnect(describe(error));
        return;
      }
      report(outcome, `Enabling ${item.id} refused: ${describe(error)}`, "bad");
    } finally {
      button.disabled = false;
    }
    refresh();
  }

  // -- Details -----------------------------------------------------------------------------

  async function select(id) {
    state.selected = id;
    state.actionsFor = null;
    report(byId("detail-outcome"), "");
    drawTransactions();
    try {
      await showDetail(true);
    } catch (error) {
      fail(error);
    }
  }

  async function showDetail(focus) {
    const id = state.selected;
    if (!id) return;
    let entry;
    try {
      entry = await api(transactionPath(id));
    } catch (error) {
      if (error.refusesToken) throw error;
      report(byId("detail-outcome"), describe(error), "bad");
      return;
    }
    if (state.selected !== id) return;
    drawDetail(entry);
    if (focus) byId("detail").focus();
  }

  function field(term, ...value) {
    return el("div", {}, el("dt", { text: term }), el("dd", {}, ...value));
  }

  function drawDetail(entry) {
    byId("detail-hint").hidden = true;
    byId("detail-title").textContent = `Transaction ${entry.id}`;
    const error = entry.error;
    const request = entry.request || {};
    byId("detail-body").replaceChildren(
      el("dl", { className: "fields" },
        field("Status", badge(entry.status), entry.outcome_unknown ? " outcome unknown at the ERP" : ""),
        field("Operation", entry.operation),
        field("Client", entry.client || ""),
        field("Legal entity", entry.legal_entity || ""),
        field("Backend", entry.backend || "", entry.rule ? ` (rule ${entry.rule})` : ""),
        field("Gateway id", entry.gateway_id || ""),
        field("ERP document", entry.erp_document || ""),
        field("Error", error ? `${error.category} ${error.code}: ${error.detail}` : "none"),
        field("Correlation id", el("span", { className: "mono", text: entry.correlation_id || "" })),
        field("Attempts", String(entry.attempts)),
        field("Arrived", moment(entry.arrived_at)),
        field("Updated", moment(entry.updated_at))),
      el("h3", { text: "States" }),
      entry.states_omitted ? el("p", { className: "note", text: `${entry.states_omitted} earlier states not kept` }) : "",
      el("ol", { className: "timeline" }, (entry.states || []).map((s) => el("li", {},
        moment(s.at), " ", badge(s.state), " ", el("span", { text: s.by === "client" ? "by the client" : s.by }),
        s.code ? el("span", { className: "code", text: ` ${s.code}` }) : "",
        el("span", { className: "note mono", text: ` ${s.correlation_id || ""}` })))),
      el("details", {}, el("summary", { text: `Request: ${request.method || ""} ${request.path || ""}` }),
        el("pre", { text: JSON.stringify(request.body === undefined ? null : request.body, null, 2) })));
    drawActions(entry);
  }

  // Drawn again only when the transaction or its status changes: an operator's edits to a
  // corrected body survive the refreshes.
  function drawActions(entry) {
    const key = `${entry.id} ${entry.status}`;
    if (state.actionsFor === key) return;
    state.actionsFor = key;
    const actions = byId("detail-actions");
    const outcome = byId("detail-outcome");
    if (entry.status === FAILED) {
      actions.replaceChildren(el("p", {},
        el("button", {
          type: "button", className: "replay", id: "detail-replay",
          onclick: (event) => replay(entry.id, undefined, outcome, event.currentTarget),
        }, "Replay as sent"),
        entry.outcome_unknown ? el("span", { className: "note", text: " The ERP may hold it: the replay looks it up by its Idempotency-Key first." }) : ""));
    } else if (entry.status === REJECTED) {
      const body = entry.request && entry.request.body !== undefined ? entry.request.body : {};
      const editor = el("textarea", { id: "corrected-body", rows: 14, spellcheck: "false" });
      editor.value = JSON.stringify(body, null, 2);
      actions.replaceChildren(
        el("label", { for: "corrected-body" }, "Corrected request body (JSON); the ERP rejected it as sent"),
        editor,
        el("p", {}, el("button", {
          type: "button", className: "replay", id: "replay-corrected",
          onclick: (event) => replayCorrected(entry.id, editor, outcome, event.currentTarget),
        }, "Replay with this body")));
    } else {
      actions.replaceChildren(el("p", { className: "note", text: "Only failed and rejected transactions are replayed." }));
    }
  }

  function replayCorrected(id, editor, outcome, button) {
    let body;
    try {
      body = JSON.parse(editor.value);
    } catch (error) {
      report(outcome, `The corrected body is not JSON: ${error.message}`, "bad");
      editor.focus();
      return;
    }
    if (body === null || typeof body !== "object" || Array.isArray(body)) {
      report(outcome, "The corrected body must be a JSON object, as the request's body was.", "bad");
      editor.focus();
      return;
    }
    replay(id, body, outcome, button);
  }

  async function replay(id, body, outcome, button) {
    button.disabled = true;
    report(outcome, `Replaying ${id}...`, "");
    try {
      const result = await api(transactionPath(id, "replay"), "POST", body === undefined ? {} : { body });
      const answer = result.replay;
      const status = result.transaction ? result.transaction.status : "unknown";
      const problem = answer.answer && answer.answer.code ? ` ${answer.answer.code}: ${problemText(answer.answer)}` : "";
      report(outcome, `Replayed ${id}: answered ${answer.status}${problem}; the transaction is now ` +
        `${statusLabel(status)} (correlation id ${answer.correlation_id}).`,
        SETTLED_WELL.has(status) ? "good" : "bad");
    } catch (error) {
      if (error.refusesToken) {
        disconnect(describe(error));
        return;
      }
      report(outcome, `Replay of ${id} refused: ${describe(error)}`, "bad");
    } finally {
      button.disabled = false;
    }
    refresh();
  }

  // -- Refresh -----------------------------------------------------------------------------

  function fail(error) {
    if (error instanceof ApiError && error.refusesToken) {
      disconnect(describe(error));
      return;
    }
    showAlert(describe(error));
    byId("freshness").textContent = `Not updated since the error below; retrying every ${REFRESH_MS / 1000} s.`;
  }

  // A panel about the whole gateway (the subscriptions) is refused (403) to an admin client of
  // some legal entities only: the page says so there and shows what the token may see (the
  // overview of its entities, their transactions). A token refused the admin API altogether is
  // refused the transactions too.
  function unlessRefused(request) {
    return request.catch((error) => {
      if (error instanceof ApiError && error.status === 403) return { refused: error };
      throw error;
    });
  }

  function showRefused(id, refused) {
    const note = byId(id);
    note.textContent = refused ? `Not shown to this token: ${problemText(refused.problem, refused.message)}.` : "";
    note.hidden = !refused;
  }

  async function refresh() {
    const generation = ++state.generation;
    clearTimeout(state.timer);
    if (!sessionStorage.getItem(TOKEN_KEY)) return;
    try {
      const [overview, page, failed, subscriptions] = await Promise.all([
        unlessRefused(api(`${ADMIN}/overview`)),
        api(transactionsPath(state.filters, { limit: PAGE_SIZE })),
        api(transactionsPath({ status: FAILED }, { limit: FAILED_SHOWN })),
        unlessRefused(api(subscriptionPath())),
      ]);
      if (generation !== state.generation) return;
      showRefused("overview-refused", overview.refused);
      if (overview.refused) byId("freshness").textContent = `Updated ${clock.format(new Date())}.`;
      else drawOverview(overview);
      mergeFirstPage(page);
      drawTransactions();
      drawFailed(failed);
      showRefused("subscriptions-refused", subscriptions.refused);
      if (!subscriptions.refused) drawSubscriptions(subscriptions);
      await showDetail(false);
      showAlert("");
    } catch (error) {
      if (generation !== state.generation) return;
      fail(error);
      if (error instanceof ApiError && error.refusesToken) return;
    }
    if (generation !== state.generation) return;
    if (!document.hidden) state.timer = setTimeout(refresh, REFRESH_MS);
  }

  function applyFilters() {
    const form = byId("filters");
    const filters = {};
    for (const name of ["status", "legal_entity", "backend", "correlation_id"]) {
      const value = form.elements[name].value.trim();
      if (value) filters[name] = value;
    }
    state.filters = filters;
    state.items = [];
    state.cursor = null;
    state.extended = false;
    // No "More" until the new filters' first page is here: it would continue the old list.
    byId("more").hidden = true;
    refresh();
  }

  function start() {
    byId("token-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const token = byId("token").value.trim();
      if (token) connect(token);
      else showAlert("Enter an admin token: a bearer token with the gateway:admin scope.");
    });
    byId("forget").addEventListener("click", () => disconnect(""));
    const filters = byId("filters");
    filters.addEventListener("submit", (event) => {
      event.preventDefault();
      applyFilters();
    });
    filters.addEventListener("change", (event) => {
      if (event.target.tagName === "SELECT") applyFilters();
    });
    // The reset event comes before the form clears its fields.
    filters.addEventListener("reset", () => setTimeout(applyFilters));
    byId("more").addEventListener("click", more);
    // A hidden tab stops polling; it refreshes as soon as it is shown again.
    document.addEventListener("visibilitychange", () => {
      if (!document.hidden) refresh();
    });
    showToken();
    if (sessionStorage.getItem(TOKEN_KEY)) refresh();
    else byId("token").focus();
  }

  start();
}());
