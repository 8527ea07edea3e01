// Cairn's web console: plain JavaScript, no framework, no build step.
// Everything shown comes from the node's own APIs; the domain view is
// the native API's event stream (GET /cairn/v1/overview/events) and the
// other views reload when the node's store changes (the native API's
// blocking read, GET /cairn/v1/kinds?index=N&wait=...): no polling.
'use strict';

const $ = (sel, el = document) => el.querySelector(sel);

// h makes an element: h('td', {class: 'x', onclick: f}, 'text', child).
function h(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e[k] = v;
  }
  for (const k of kids.flat()) {
    if (k !== null && k !== undefined && k !== false) e.append(k instanceof Node ? k : String(k));
  }
  return e;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = encodeURIComponent;

// ---- credentials -------------------------------------------------------

// The token from POST /cairn/v1/login, kept for this tab only.
const auth = {
  token: sessionStorage.getItem('cairn.token') || '',
  user: sessionStorage.getItem('cairn.user') || '',
};

class HTTPError extends Error {
  constructor(status, msg) { super(msg); this.status = status; }
}

// errorText reads each API's error body: native {"error"}, MRF a JSON
// string, MaxScale {"errors":[{"detail"}]}.
async function errorText(resp) {
  const t = await resp.text().catch(() => '');
  try {
    const v = JSON.parse(t);
    if (typeof v === 'string') return v;
    if (v && v.error) return v.error;
    if (v && v.errors && v.errors[0]) return v.errors[0].detail;
  } catch (_) { /* not JSON */ }
  return t.trim() || resp.statusText || `status ${resp.status}`;
}

let loginWaiters = null;

// needLogin opens the sign-in dialog (once, however many requests wait)
// and resolves when the user has signed in.
function needLogin(why) {
  if (!loginWaiters) loginWaiters = [];
  const d = $('#login');
  if (!d.open) {
    $('#login-why').textContent = why || '';
    $('#login-error').textContent = '';
    d.showModal();
    $('#login-user').focus();
  }
  return new Promise((resolve) => loginWaiters.push(resolve));
}

function setAuth(user, token) {
  auth.user = user;
  auth.token = token;
  if (token) {
    sessionStorage.setItem('cairn.token', token);
    sessionStorage.setItem('cairn.user', user);
  } else {
    sessionStorage.removeItem('cairn.token');
    sessionStorage.removeItem('cairn.user');
  }
  $('#who').textContent = user ? `signed in as ${user}` : '';
  $('#signin').textContent = token ? 'Sign out' : 'Sign in';
}

async function login(ev) {
  ev.preventDefault();
  const user = $('#login-user').value;
  const resp = await fetch('/cairn/v1/login', {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'omit',
    body: JSON.stringify({ username: user, password: $('#login-password').value }),
  }).catch((e) => ({ ok: false, status: 0, text: async () => e.message }));
  if (!resp.ok) {
    $('#login-error').textContent = `Not signed in: ${await errorText(resp)}`;
    return;
  }
  const t = await resp.json();
  setAuth(user, t.access_token);
  $('#login-password').value = '';
  $('#login').close();
  const waiters = loginWaiters || [];
  loginWaiters = null;
  waiters.forEach((w) => w());
}

// request sends one API request with the token, asking for credentials
// on a 401 and then sending it again. opts.raw returns the Response (for
// streams); otherwise {status, json, text}. Statuses in opts.ok are not
// errors.
async function request(method, path, body, opts = {}) {
  for (;;) {
    const headers = {};
    if (auth.token) headers.Authorization = `Bearer ${auth.token}`;
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    // credentials 'omit': a 401 then never opens the browser's own Basic
    // prompt (the Fetch standard prompts only when credentials are
    // included); the page asks with its own form and sends a token.
    const resp = await fetch(path, { method, headers, body, signal: opts.signal, cache: 'no-store', credentials: 'omit' });
    if (resp.status === 401 && opts.noLogin) throw new HTTPError(401, await errorText(resp));
    if (resp.status === 401) {
      const why = await errorText(resp);
      if (auth.token) setAuth('', ''); // expired or revoked
      await needLogin(`${method} ${path}: ${why}`);
      continue;
    }
    if (!resp.ok && !(opts.ok || []).includes(resp.status)) throw new HTTPError(resp.status, await errorText(resp));
    if (opts.raw) return resp;
    const text = await resp.text();
    let json;
    try { json = text ? JSON.parse(text) : undefined; } catch (_) { json = undefined; }
    return { status: resp.status, headers: resp.headers, text, json };
  }
}

const getJSON = async (path, opts) => (await request('GET', path, undefined, opts)).json;

// readEvents reads a text/event-stream body and calls on(event, data) for
// each event (the format of the HTML standard's server-sent events; read
// with fetch, as EventSource cannot send a Bearer token).
async function readEvents(stream, on, onChunk) {
  const rd = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let name = '';
  let data = [];
  for (;;) {
    const { value, done } = await rd.read();
    if (done) return;
    if (onChunk) onChunk();
    buf += value;
    let i;
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      if (line === '') {
        if (data.length) on(name || 'message', data.join('\n'));
        name = '';
        data = [];
      } else if (!line.startsWith(':')) {
        const c = line.indexOf(':');
        const field = c < 0 ? line : line.slice(0, c);
        let v = c < 0 ? '' : line.slice(c + 1);
        if (v.startsWith(' ')) v = v.slice(1);
        if (field === 'event') name = v;
        else if (field === 'data') data.push(v);
      }
    }
  }
}

// ---- the domain --------------------------------------------------------

function setConn(cls, text) {
  const c = $('#conn');
  c.className = `conn ${cls}`;
  c.textContent = text;
}

// streamIdle is how long the overview stream may stay silent: the node
// sends a comment every 15 s, so a longer silence is a dead connection.
const streamIdle = 40000;

// watchDomain follows the overview stream for good, reconnecting at once
// when the node ends it (its request deadline) and with back-off when the
// node cannot be reached; the picture is dimmed meanwhile.
async function watchDomain() {
  let backoff = 250;
  for (;;) {
    const ctrl = new AbortController();
    let idle = setTimeout(() => ctrl.abort(), streamIdle);
    const alive = () => {
      clearTimeout(idle);
      idle = setTimeout(() => ctrl.abort(), streamIdle);
    };
    try {
      const resp = await request('GET', '/cairn/v1/overview/events', undefined, { raw: true, signal: ctrl.signal });
      backoff = 250;
      await readEvents(resp.body, (name, data) => {
        if (name === 'overview') renderOverview(JSON.parse(data));
      }, alive);
    } catch (e) {
      $('#zones').classList.add('stale');
      setConn('down', `no answer from this node (${ctrl.signal.aborted ? 'silent for 40 s' : e.message}); retrying`);
      await sleep(backoff);
      backoff = Math.min(backoff * 2, 4000);
    } finally {
      clearTimeout(idle);
    }
  }
}

const kv = (k, v) => [h('dt', {}, k), h('dd', {}, v)];

function contact(m) {
  if (m.state === 'Leader') return 'is the leader';
  if (m.last_contact_ms === undefined || m.last_contact_ms < 0) return 'never';
  return m.last_contact_ms < 1000 ? `${m.last_contact_ms} ms ago` : `${(m.last_contact_ms / 1000).toFixed(1)} s ago`;
}

function memberCard(m) {
  const leads = m.state === 'Leader';
  const cls = ['member', `gossip-${m.status}`];
  if (leads) cls.push('leads');
  if (!m.state) cls.push('unreachable');
  return h('div', { class: cls.join(' '), 'data-id': m.id, 'data-state': m.state || 'unreachable', 'data-gossip': m.status },
    h('div', { class: 'm-head' },
      h('span', { class: 'dot', title: `gossip: ${m.status}` }), h('b', {}, m.id),
      leads ? h('span', { class: 'badge' }, 'leader') : null,
      m.role === 'controller' ? h('span', { class: 'badge ctl' }, 'controller') : null),
    h('dl', {},
      kv('gossip', m.status),
      kv('raft', m.state || '—'),
      kv('suffrage', m.suffrage || '—'),
      kv('term', m.term ?? '—'),
      kv('applied', m.applied_index ?? '—'),
      kv('lag', m.state ? m.lag : '—'),
      kv('last contact', m.state ? contact(m) : '—'),
      kv('http', /^https?:\/\//.test(m.http || '') ? h('a', { href: `${m.http}/ui/`, title: `${m.id}'s own console` }, m.http.replace(/^https?:\/\//, '')) : (m.http || '—'))),
    m.unreachable ? h('p', { class: 'warn' }, m.unreachable) : null);
}

function renderOverview(o) {
  lastOverview = o;
  $('#zones').classList.remove('stale');
  const zone = o.zones.find((z) => z.name === o.zone);
  setConn('live', `live from ${o.node}` + (zone && zone.leader ? `, ${o.zone} led by ${zone.leader}` : `, ${o.zone} has no leader`));
  $('#domain-meta').textContent =
    `Seen from node ${o.node} of zone ${o.zone} at store index ${o.index}, ${new Date().toLocaleTimeString()}.`;
  $('#zones').replaceChildren(...o.zones.map((z) => h('div', { class: 'zone', 'data-zone': z.name, 'data-leader': z.leader || '' },
    h('div', { class: 'zone-head' },
      h('h2', {}, `zone ${z.name}`),
      z.leader ? h('span', { class: 'leader' }, 'leader ', h('b', {}, z.leader)) : h('span', { class: 'none' }, 'no leader')),
    h('div', { class: 'members' }, z.members.map(memberCard)))));
}

// ---- views and store watching -------------------------------------------

const views = {};
let current = '';

// show switches to the view the URL's hash names.
function show() {
  const name = (location.hash || '#domain').slice(1).split('/')[0];
  const v = views[name] ? name : 'domain';
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== `view-${v}`;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('on', a.getAttribute('href') === `#${v}`);
  if (current !== v) {
    if (views[current] && views[current].leave) views[current].leave();
    current = v;
    refresh();
  }
}

// refresh reloads the current view; one at a time, and again afterwards
// if asked meanwhile.
let refreshing = null;
let again = false;
async function refresh() {
  if (refreshing) { again = true; return; }
  const v = views[current];
  if (!v || !v.load) return;
  const section = $(`#view-${current}`);
  refreshing = v.load().then(() => { section.dataset.loaded = String(Date.now()); }, (e) => v.fail && v.fail(e));
  await refreshing;
  refreshing = null;
  if (again) { again = false; refresh(); }
}

// watchStore reloads the current view (other than the domain's, which
// has its stream) whenever this node's store passes the index it was
// read at, with the native API's blocking read. It reads one page of one
// resource of a small kind: only the store index it answers at
// (X-Cairn-Index) matters.
async function watchStore() {
  let index = 0;
  for (;;) {
    if (current === 'domain' || !views[current]) { await sleep(300); continue; }
    try {
      const r = await request('GET', `/cairn/v1/resources/cairn.zone?limit=1&index=${index}&wait=55s`);
      const next = Number(r.headers.get('X-Cairn-Index'));
      document.body.dataset.storeIndex = next; // for tests and the curious
      if (next !== index) {
        // From 0 too: the view may have loaded before the index this
        // first answer gives.
        refresh();
        index = next;
      }
      await sleep(300); // at most about three reloads a second under write load
    } catch (e) {
      document.body.dataset.storeWatch = e.message;
      await sleep(2000);
    }
  }
}

function fail(el) {
  return (e) => { el.textContent = e.message; el.className = 'msg bad'; };
}

function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toLocaleString();
}

// ---- resources -----------------------------------------------------------

const res = { kind: '', id: '', next: '', kinds: [] };

function resPath(kind, id) {
  return `/cairn/v1/resources/${enc(kind)}` + (id === undefined ? '' : `/${enc(id)}`);
}

views.resources = {
  async load() {
    const k = await getJSON('/cairn/v1/kinds');
    res.kinds = k.kinds;
    $('#kinds').replaceChildren(...k.kinds.map((x) => h('li', {
      class: (x.kind === res.kind ? 'on ' : '') + (x.secret ? 'secret' : ''),
      'data-kind': x.kind,
      title: x.secret ? 'holds credentials: served only by its own API' : (x.owner ? `written through the ${x.owner} API` : ''),
      onclick: x.secret ? null : () => selectKind(x.kind),
    }, h('span', {}, x.kind), h('span', { class: 'count' }, x.count))));
    if (res.kind) await listKind(res.kind, true);
    if (res.id) await showResource(res.kind, res.id, true);
  },
  fail: fail($('#res-msg')),
};

async function selectKind(kind) {
  res.kind = kind;
  res.id = '';
  $('#res-detail').hidden = true;
  for (const li of document.querySelectorAll('#kinds li')) li.classList.toggle('on', li.dataset.kind === kind);
  $('#new-kind').value = kind;
  await listKind(kind, false).catch(fail($('#res-msg')));
}

async function listKind(kind, keep) {
  const body = await getJSON(`${resPath(kind)}?limit=100`);
  $('#res-title').textContent = `${kind}`;
  const rows = body.items.map(resRow);
  $('#res-list tbody').replaceChildren(...rows);
  res.next = body.next || '';
  $('#res-more').hidden = !res.next;
  if (!keep) $('#res-msg').textContent = '';
}

function resRow(r) {
  return h('tr', { 'data-id': r.id, class: r.id === res.id ? 'on' : null, onclick: () => showResource(r.kind, r.id) },
    h('td', {}, r.id), h('td', {}, r.version), h('td', {}, fmtTime(r.updated)));
}

async function more() {
  const body = await getJSON(`${resPath(res.kind)}?limit=100&continue=${enc(res.next)}`);
  $('#res-list tbody').append(...body.items.map(resRow));
  res.next = body.next || '';
  $('#res-more').hidden = !res.next;
}

async function showResource(kind, id, quiet) {
  const r = await request('GET', resPath(kind, id), undefined, { ok: [404] });
  if (r.status === 404) {
    if (res.id === id) { res.id = ''; $('#res-detail').hidden = true; }
    return;
  }
  res.id = id;
  for (const tr of document.querySelectorAll('#res-list tbody tr')) tr.classList.toggle('on', tr.dataset.id === id);
  $('#res-detail-title').textContent = `${kind} / ${id}`;
  $('#res-json').textContent = JSON.stringify(r.json, null, 2);
  const owned = (res.kinds.find((k) => k.kind === kind) || {}).owner;
  $('#res-delete').hidden = !!owned;
  $('#res-edit').hidden = !!owned;
  disarm();
  $('#res-detail').hidden = false;
  if (!quiet) $('#res-msg').textContent = '';
}

function disarm() {
  const b = $('#res-delete');
  b.classList.remove('armed');
  b.textContent = 'Delete';
}

// deleteResource asks for a second click rather than a dialog.
async function deleteResource() {
  const b = $('#res-delete');
  if (!b.classList.contains('armed')) {
    b.classList.add('armed');
    b.textContent = `Delete ${res.id}? Click again`;
    return;
  }
  disarm();
  const { kind, id } = res;
  try {
    await request('DELETE', resPath(kind, id));
    res.id = '';
    $('#res-detail').hidden = true;
    $('#res-msg').className = 'msg';
    $('#res-msg').textContent = `Deleted ${kind}/${id}.`;
    await views.resources.load();
  } catch (e) { fail($('#res-msg'))(e); }
}

async function putResource(ev) {
  ev.preventDefault();
  const kind = $('#new-kind').value.trim();
  const id = $('#new-id').value.trim();
  const body = $('#new-body').value;
  try {
    JSON.parse(body);
  } catch (e) {
    fail($('#res-msg'))(new Error(`The body is not JSON: ${e.message}`));
    return;
  }
  try {
    const r = await request('PUT', resPath(kind, id), body);
    $('#res-msg').className = 'msg';
    $('#res-msg').textContent = `${r.status === 201 ? 'Created' : 'Updated'} ${kind}/${id} (version ${r.json.version}).`;
    res.kind = kind;
    res.id = id;
    await views.resources.load();
  } catch (e) { fail($('#res-msg'))(e); }
}

function editResource() {
  const r = JSON.parse($('#res-json').textContent);
  $('#new-kind').value = r.kind;
  $('#new-id').value = r.id;
  $('#new-body').value = JSON.stringify(r.body, null, 2);
  $('#new-body').focus();
}

// ---- MRF -----------------------------------------------------------------

const zoneStates = (zones) => Object.entries(zones || {}).map(([z, s]) =>
  h('tr', {}, h('td', {}, z), h('td', { class: `state-${s.state}` }, s.state), h('td', {}, s.node || ''),
    h('td', {}, s.reason || ''), h('td', {}, fmtTime(s.updated))));

// domainGet reads one of the domain's MRF resources. A node that is not
// a controller forwards those to one, in another zone whose users and
// token key are its own: a token of this zone is refused there. The read
// is then tried without credentials (a controller that requires none
// answers), and otherwise the page says where to look instead.
let lastOverview = null;
let domainTokenRefused = ''; // the token the controller refused
async function domainGet(path) {
  if (!auth.token || auth.token !== domainTokenRefused) {
    try {
      return await getJSON(path, { noLogin: true });
    } catch (e) {
      if (e.status !== 401) throw e;
    }
  }
  const resp = await fetch(path, { credentials: 'omit', cache: 'no-store' });
  if (resp.ok) {
    domainTokenRefused = auth.token;
    return resp.json();
  }
  const ctl = lastOverview && lastOverview.zones.flatMap((z) => z.members).find((m) => m.role === 'controller' && m.status === 'alive');
  const where = ctl && ctl.zone !== lastOverview.zone ? ` Open the console of controller ${ctl.id} (zone ${ctl.zone}): ${ctl.http}/ui/#mrf` : '';
  throw new HTTPError(resp.status, `The controller refused this zone's credentials (${await errorText(resp)}); each zone has its own users.${where}`);
}

views.mrf = {
  async load() {
    const c = await domainGet('/management/domain/contributions');
    $('#mrf-contributions tbody').replaceChildren(...(c.contributions || []).map((x) =>
      h('tr', {}, h('td', {}, x.uri), h('td', {}, x.state))));
    const d = await domainGet('/management/domain/deployments');
    const details = await Promise.all((d.deployments || []).map((x) =>
      domainGet(`/management/domain/deployments/contribution/${enc(x.uri)}`).catch((e) => ({ uri: x.uri, error: e.message }))));
    $('#mrf-deployments').replaceChildren(...(details.length ? details.map((x) => h('div', { class: 'card', 'data-uri': x.uri },
      h('b', {}, x.uri), x.generation ? h('span', { class: 'meta' }, ` generation ${x.generation}`) : null,
      x.error ? h('p', { class: 'error' }, x.error) : null,
      x.components ? h('p', { class: 'meta' }, `components: ${x.components.join(', ') || 'none'}`) : null,
      h('table', { class: 'grid' }, h('thead', {}, h('tr', {}, ['zone', 'state', 'node', 'reason', 'updated'].map((t) => h('th', {}, t)))),
        h('tbody', {}, zoneStates(x.zones))))) : [h('p', { class: 'meta' }, 'Nothing deployed.')]));
    $('#mrf-msg').textContent = '';
  },
  fail: fail($('#mrf-msg')),
};

// ---- workloads -------------------------------------------------------------

const wl = { id: '', logs: null };

views.workloads = {
  async load() {
    const l = await getJSON('/cairn/v1/workloads?limit=1000');
    $('#wl-list tbody').replaceChildren(...l.items.map((w) => h('tr', {
      'data-id': w.id, class: w.id === wl.id ? 'on' : null, onclick: () => selectWorkload(w.id),
    }, h('td', {}, w.id), h('td', {}, w.spec.state || 'started'), h('td', {}, w.spec.instances),
    h('td', {}, (w.counts && w.counts.RUNNING) || 0), h('td', {}, fmtTime(w.updated)))));
    $('#wl-msg').textContent = l.items.length ? '' : 'No workloads.';
    if (wl.id) await showWorkload(wl.id);
  },
  leave() { stopLogs(); },
  fail: fail($('#wl-msg')),
};

async function selectWorkload(id) {
  stopLogs();
  wl.id = id;
  for (const tr of document.querySelectorAll('#wl-list tbody tr')) tr.classList.toggle('on', tr.dataset.id === id);
  $('#wl-logs').replaceChildren();
  await showWorkload(id);
  followLogs(id);
}

async function showWorkload(id) {
  const r = await request('GET', `/cairn/v1/workloads/${enc(id)}`, undefined, { ok: [404] });
  if (r.status === 404) { wl.id = ''; stopLogs(); $('#wl-detail').hidden = true; return; }
  const w = r.json;
  $('#wl-title').textContent = `${w.id}: ${w.spec.instances} instance(s), ${w.spec.state || 'started'}`;
  $('#wl-instances tbody').replaceChildren(...w.instances.map((i) => h('tr', {},
    h('td', {}, i.index), h('td', {}, i.node), h('td', { class: `state-${i.state}` }, i.state + (i.failed ? ' (failed)' : '')),
    h('td', {}, i.pid || ''), h('td', {}, i.restarts), h('td', {}, i.exited ? i.exit_code : ''), h('td', {}, i.reason || ''))));
  $('#wl-detail').hidden = false;
}

function stopLogs() {
  if (wl.logs) wl.logs.abort();
  wl.logs = null;
}

// followLogs streams the workload's logs (?follow) into the page,
// starting again after the last line seen when the stream ends.
async function followLogs(id) {
  const ctrl = new AbortController();
  wl.logs = ctrl;
  const pre = $('#wl-logs');
  let since = '';
  while (!ctrl.signal.aborted && wl.id === id) {
    try {
      $('#wl-log-state').textContent = 'following';
      const q = since ? `since=${since}` : 'lines=200';
      const resp = await request('GET', `/cairn/v1/workloads/${enc(id)}/logs?${q}&follow`, undefined, { raw: true, signal: ctrl.signal });
      const rd = resp.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await rd.read();
        if (done) break;
        buf += value;
        let i;
        while ((i = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, i);
          buf = buf.slice(i + 1);
          const [ns, channel, ...rest] = line.split(',');
          since = ns;
          const t = new Date(Number(ns.slice(0, -6))).toLocaleTimeString();
          pre.append(h('span', { class: channel }, `${t} ${channel === 'stderr' ? 'E' : ' '} ${rest.join(',')}\n`));
        }
        while (pre.childNodes.length > 2000) pre.firstChild.remove();
        pre.scrollTop = pre.scrollHeight;
      }
    } catch (e) {
      if (ctrl.signal.aborted) return;
      $('#wl-log-state').textContent = `(${e.message}; retrying)`;
      await sleep(2000);
    }
  }
}

// ---- MaxScale --------------------------------------------------------------

const rel = (o, name) => ((o.relationships && o.relationships[name] && o.relationships[name].data) || []).map((x) => x.id).join(', ');

views.maxscale = {
  async load() {
    const [servers, services, monitors] = await Promise.all(['servers', 'services', 'monitors'].map((c) => getJSON(`/maxscale/v1/${c}`)));
    $('#ms-servers tbody').replaceChildren(...servers.data.map((s) => {
      const p = s.attributes.parameters || {};
      const state = s.attributes.state || '';
      return h('tr', { 'data-id': s.id }, h('td', {}, s.id), h('td', {}, p.socket || `${p.address}:${p.port}`),
        h('td', { class: /Down/.test(state) ? 'state-Down' : (/Running/.test(state) ? 'state-Running' : null) }, state), h('td', {}, rel(s, 'monitors')), h('td', {}, rel(s, 'services')));
    }));
    $('#ms-services tbody').replaceChildren(...services.data.map((s) => h('tr', { 'data-id': s.id },
      h('td', {}, s.id), h('td', {}, s.attributes.router), h('td', {}, s.attributes.state),
      h('td', {}, [rel(s, 'servers'), rel(s, 'services'), rel(s, 'monitors')].filter(Boolean).join('; ')))));
    $('#ms-monitors tbody').replaceChildren(...monitors.data.map((m) => h('tr', { 'data-id': m.id },
      h('td', {}, m.id), h('td', {}, m.attributes.module), h('td', {}, m.attributes.state), h('td', {}, rel(m, 'servers')))));
    $('#ms-msg').textContent = '';
  },
  fail: fail($('#ms-msg')),
};

views.domain = {};

// ---- start -------------------------------------------------------------------

$('#login-form').addEventListener('submit', login);
$('#login-cancel').addEventListener('click', () => $('#login').close());
$('#signin').addEventListener('click', () => {
  if (auth.token) { setAuth('', ''); return; }
  needLogin('Sign in to act as one of the zone\'s users.').then(refresh);
});
$('#res-form').addEventListener('submit', putResource);
$('#res-delete').addEventListener('click', deleteResource);
$('#res-edit').addEventListener('click', editResource);
$('#res-more').addEventListener('click', () => more().catch(fail($('#res-msg'))));
window.addEventListener('hashchange', show);
setAuth(auth.user, auth.token);
show();
watchDomain();
watchStore();
