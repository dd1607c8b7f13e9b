/**
 * `/app.js`: the page's script, plain ES2017 for the browser (no build step, no CDN). Everything
 * that came from the broker (names, ids, arguments, results, errors) is put into the page with
 * `textContent` or `setAttribute` on fixed attribute names, never as HTML. State-changing calls
 * are POSTs with the CSRF token from the page's `<meta>` tag. Live updates come from `/events`.
 */
export const PAGE_SCRIPT = String.raw`(function () {
  'use strict';
  var meta = document.querySelector('meta[name="csrf-token"]');
  var CSRF = meta ? meta.getAttribute('content') : '';
  var STATES = ['PENDING', 'RECEIVED', 'STARTED', 'PROGRESS', 'RETRY', 'SUCCESS', 'FAILURE', 'REVOKED', 'REJECTED'];
  var MAX_ROWS = 200;
  var SVGNS = 'http://www.w3.org/2000/svg';
  var tasks = new Map();
  var knownNames = new Set();
  var selected = null;
  var detailTimer = null;
  var drawTimer = null;
  var filterTimer = null;
  var toastTimer = null;

  function $(id) { return document.getElementById(id); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function td(text, cls) { return el('td', cls, text); }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function fmtTime(ms) { return ms ? new Date(ms).toLocaleTimeString() : ''; }
  function fmtMs(ms) { return ms === null || ms === undefined ? '' : ms < 1000 ? Math.round(ms) + ' ms' : (ms / 1000).toFixed(2) + ' s'; }
  function fmtNum(n, digits) { return n === null || n === undefined ? '?' : digits ? n.toFixed(digits) : String(n); }
  function badge(state) {
    var b = el('span', 'state', state);
    if (STATES.indexOf(state) >= 0) b.classList.add('state-' + state);
    return b;
  }
  function taskLink(id) {
    var a = el('a', null, id);
    a.setAttribute('href', '#task/' + encodeURIComponent(id));
    return a;
  }
  function toast(msg) {
    var t = $('toast');
    t.textContent = msg;
    t.classList.add('show');
    clearTimeout(toastTimer);
    toastTimer = setTimeout(function () { t.classList.remove('show'); }, 4000);
  }
  function fail(err) { toast('Error: ' + (err && err.message ? err.message : String(err))); }

  function api(method, path, body) {
    var init = { method: method, credentials: 'same-origin', headers: { accept: 'application/json' } };
    if (method !== 'GET') {
      init.headers['content-type'] = 'application/json';
      init.headers['x-csrf-token'] = CSRF;
      init.body = JSON.stringify(body || {});
    }
    return fetch(path, init).then(function (res) {
      if (res.status === 401) {
        location.href = '/login';
        throw new Error('not logged in');
      }
      return res.json().then(function (json) {
        if (!res.ok) throw new Error((json && json.error && json.error.message) || 'HTTP ' + res.status);
        return json;
      });
    });
  }

  // ---- navigation -------------------------------------------------------------------------
  function route() {
    var h = location.hash.replace(/^#/, '') || 'overview';
    var tab = h.split('/')[0];
    if (['overview', 'tasks', 'dlq', 'task'].indexOf(tab) < 0) tab = 'overview';
    var view = tab === 'task' ? 'tasks' : tab;
    ['overview', 'tasks', 'dlq'].forEach(function (v) {
      $('view-' + v).hidden = v !== view;
      $('tab-' + v).classList.toggle('active', v === view);
    });
    if (tab === 'task') showTask(decodeURIComponent(h.slice(5)));
    else if (view === 'tasks') { selected = null; $('task-detail').hidden = true; }
    if (view === 'tasks') loadTasks();
    if (view === 'dlq') loadDlq();
  }

  // ---- tasks ------------------------------------------------------------------------------
  function filters() {
    var f = $('task-filter');
    return { q: f.elements.q.value.trim(), name: f.elements.name.value.trim(), state: f.elements.state.value };
  }
  function matches(r, f) {
    if (f.name && r.name !== f.name) return false;
    if (f.state && r.state !== f.state) return false;
    if (f.q) {
      var q = f.q.toLowerCase();
      if (r.id.toLowerCase().indexOf(q) < 0 && (r.name || '').toLowerCase().indexOf(q) < 0) return false;
    }
    return true;
  }
  function addNames(names) {
    var grew = false;
    names.forEach(function (n) { if (n && !knownNames.has(n)) { knownNames.add(n); grew = true; } });
    if (!grew) return;
    var list = $('task-names');
    clear(list);
    Array.from(knownNames).sort().forEach(function (n) { var o = el('option'); o.value = n; list.appendChild(o); });
  }
  function loadTasks() {
    var f = filters();
    var qs = new URLSearchParams({ q: f.q, name: f.name, state: f.state, limit: String(MAX_ROWS) });
    api('GET', '/api/tasks?' + qs.toString()).then(function (res) {
      tasks = new Map();
      res.tasks.slice().reverse().forEach(function (r) { tasks.set(r.id, r); });
      addNames(res.names);
      drawTasks();
    }).catch(fail);
  }
  function applyRows(rows) {
    var f = filters();
    rows.forEach(function (r) {
      if (r.name) addNames([r.name]);
      tasks.delete(r.id);
      if (matches(r, f)) tasks.set(r.id, r);
      if (selected === r.id) {
        clearTimeout(detailTimer);
        detailTimer = setTimeout(function () { showTask(r.id); }, 300);
      }
    });
    while (tasks.size > MAX_ROWS) tasks.delete(tasks.keys().next().value);
    if (!$('view-tasks').hidden && drawTimer === null) drawTimer = setTimeout(function () { drawTimer = null; drawTasks(); }, 50);
  }
  function drawTasks() {
    var body = $('tasks').tBodies[0];
    clear(body);
    Array.from(tasks.values()).reverse().forEach(function (r) {
      var tr = el('tr');
      tr.setAttribute('data-task-id', r.id);
      var idCell = el('td', 'mono');
      idCell.appendChild(taskLink(r.id));
      tr.appendChild(idCell);
      tr.appendChild(td(r.name));
      var st = el('td');
      st.appendChild(badge(r.state));
      tr.appendChild(st);
      tr.appendChild(td(r.queue));
      tr.appendChild(td(r.worker));
      tr.appendChild(td(fmtTime(r.receivedAt)));
      tr.appendChild(td(fmtMs(r.runtimeMs)));
      tr.appendChild(td(r.retries));
      tr.appendChild(td(r.error, 'mono'));
      body.appendChild(tr);
    });
  }
  function field(dl, label, text, node) {
    dl.appendChild(el('dt', null, label));
    var dd = el('dd', null, node ? null : text === null || text === undefined || text === '' ? '-' : text);
    if (node) dd.appendChild(node);
    dl.appendChild(dd);
  }
  function json(value) { return el('pre', null, value === undefined ? 'not recorded' : JSON.stringify(value, null, 2)); }
  function showTask(id) {
    selected = id;
    $('task-detail').hidden = false;
    $('detail-id').textContent = id;
    api('GET', '/api/tasks/' + encodeURIComponent(id)).then(function (t) {
      if (selected !== id) return;
      var dl = $('detail-fields');
      clear(dl);
      field(dl, 'Name', t.name);
      field(dl, 'State', null, badge(t.state));
      field(dl, 'Queue', t.queue);
      field(dl, 'Worker', t.worker);
      field(dl, 'Attempts', t.attempts);
      field(dl, 'Retries', t.retries);
      field(dl, 'Trace id', t.traceId);
      field(dl, 'Received', fmtTime(t.receivedAt));
      field(dl, 'Runtime', fmtMs(t.runtimeMs));
      field(dl, 'Done', t.dateDone);
      field(dl, 'Arguments', null, t.args === null ? el('span', null, 'not recorded (kept only with a dead letter)') : json(t.args));
      if (t.kwargs !== null && t.kwargs !== undefined) field(dl, 'Keyword arguments', null, json(t.kwargs));
      field(dl, 'Result', null, json(t.result));
      field(dl, 'Error', null, json(t.error));
      field(dl, 'Traceback', null, el('pre', null, t.traceback || '-'));
      if (t.meta) field(dl, 'Meta', null, json(t.meta));
      field(dl, 'Events', null, el('pre', null, (t.history || []).map(function (h) { return new Date(h.at).toISOString() + '  ' + h.type + '  ' + h.worker; }).join('\n') || '-'));
    }).catch(fail);
  }

  // ---- dead letters -----------------------------------------------------------------------
  function dlqQueue() { return $('dlq-filter').elements.queue.value.trim(); }
  function loadDlq() {
    var q = dlqQueue();
    api('GET', '/api/dlq' + (q ? '?queue=' + encodeURIComponent(q) : '')).then(function (res) {
      var body = $('dlq').tBodies[0];
      clear(body);
      $('dlq-empty').hidden = res.entries.length > 0;
      res.entries.forEach(function (e) {
        var tr = el('tr');
        tr.setAttribute('data-task-id', e.taskId);
        tr.appendChild(td(e.seq));
        tr.appendChild(td(new Date(e.time).toLocaleString()));
        tr.appendChild(td(e.queue));
        var idCell = el('td', 'mono');
        idCell.appendChild(taskLink(e.taskId));
        tr.appendChild(idCell);
        tr.appendChild(td(e.task));
        tr.appendChild(td(e.reason));
        tr.appendChild(td(e.error ? e.error.name + ': ' + e.error.message : '', 'mono'));
        tr.appendChild(td(e.attempts));
        tr.appendChild(td(e.args, 'mono args'));
        var act = el('td');
        var b = el('button', 'replay', 'Replay');
        b.type = 'button';
        b.addEventListener('click', function () { replay({ ids: [e.taskId], queue: e.queue }); });
        act.appendChild(b);
        tr.appendChild(act);
        body.appendChild(tr);
      });
    }).catch(fail);
  }
  function replay(body) {
    api('POST', '/api/dlq/replay', body).then(function (res) {
      toast(res.replayed.length + ' task(s) replayed');
      loadDlq();
    }).catch(fail);
  }

  // ---- overview ---------------------------------------------------------------------------
  function svg(tag, attrs) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    return e;
  }
  function chart(node, series, classes, unit) {
    clear(node);
    var W = 600, H = 140, top = 14, bottom = 16;
    var max = 0;
    series.forEach(function (s) { s.forEach(function (v) { if (v !== null && v > max) max = v; }); });
    if (max <= 0) max = 1;
    for (var g = 0; g <= 2; g++) {
      var gy = top + ((H - top - bottom) * g) / 2;
      node.appendChild(svg('line', { x1: 0, x2: W, y1: gy, y2: gy, class: 'grid' }));
    }
    series.forEach(function (s, i) {
      var n = s.length;
      var points = [];
      var flush = function () {
        if (points.length > 0) node.appendChild(svg('polyline', { points: points.length === 1 ? points[0] + ' ' + points[0] : points.join(' '), class: 'line ' + classes[i] }));
        points = [];
      };
      s.forEach(function (v, j) {
        if (v === null) return flush();
        var x = n > 1 ? (j / (n - 1)) * W : 0;
        var y = top + (H - top - bottom) * (1 - v / max);
        points.push(x.toFixed(1) + ',' + y.toFixed(1));
      });
      flush();
    });
    var label = function (x, y, text, anchor) {
      var t = svg('text', { x: x, y: y, class: 'axis', 'text-anchor': anchor });
      t.textContent = text;
      node.appendChild(t);
    };
    label(4, 10, fmtNum(max, max < 10 ? 1 : 0) + ' ' + unit, 'start');
    label(4, H - 3, '-5 min', 'start');
    label(W - 4, H - 3, 'now', 'end');
  }
  function renderOverview(o) {
    if (o.error) { $('overview-errors').textContent = o.error; return; }
    $('app-name').textContent = o.app;
    document.title = 'Celeriac: ' + o.app;
    var online = o.workers.filter(function (w) { return w.online; }).length;
    $('card-workers').textContent = online + ' / ' + o.workers.length;
    $('card-tasks').textContent = String(o.tasks.tracked);
    var lastMinute = o.series.succeeded.slice(-60).reduce(function (a, b) { return a + b; }, 0);
    $('card-rate').textContent = (lastMinute / 60).toFixed(2);
    $('card-dlq').textContent = o.deadLetters === null ? '?' : String(o.deadLetters);
    $('dlq-count').textContent = o.deadLetters ? String(o.deadLetters) : '';
    $('overview-errors').textContent = o.errors.join('; ');
    var wb = $('workers').tBodies[0];
    clear(wb);
    o.workers.forEach(function (w) {
      var tr = el('tr', w.online ? null : 'offline');
      tr.setAttribute('data-worker', w.name);
      tr.appendChild(td(w.name, 'mono'));
      tr.appendChild(td(w.online ? 'online' : 'offline'));
      tr.appendChild(td(w.queues.join(', ')));
      tr.appendChild(td(w.active + ' / ' + w.concurrency + (w.cpuThreads ? ' (+' + w.cpuThreads + ' cpu)' : '')));
      tr.appendChild(td(Math.round(w.load * 100) + ' %'));
      tr.appendChild(td(w.succeeded));
      tr.appendChild(td(w.failed));
      tr.appendChild(td(w.retried));
      tr.appendChild(td((w.heartbeatAgeMs / 1000).toFixed(1) + ' s ago'));
      wb.appendChild(tr);
    });
    var qb = $('queues').tBodies[0];
    clear(qb);
    o.queues.forEach(function (q) {
      var tr = el('tr');
      tr.setAttribute('data-queue', q.queue);
      tr.appendChild(td(q.queue, 'mono'));
      tr.appendChild(td(fmtNum(q.depth)));
      tr.appendChild(td(fmtNum(q.inFlight)));
      tr.appendChild(td(fmtNum(q.redelivered)));
      tr.appendChild(td(fmtNum(q.rate, 2)));
      tr.appendChild(td(q.depthRate === null ? '' : fmtNum(q.depthRate, 2)));
      tr.appendChild(td(q.consumers));
      qb.appendChild(tr);
    });
    chart($('chart-throughput'), [o.series.succeeded, o.series.failed], ['succeeded', 'failed'], '/s');
    chart($('chart-latency'), [o.series.p50, o.series.p95], ['p50', 'p95'], 'ms');
  }

  // ---- live feed --------------------------------------------------------------------------
  function live(on) {
    var l = $('live');
    l.textContent = on ? 'live' : 'reconnecting';
    l.className = 'live ' + (on ? 'on' : 'off');
  }
  function connect() {
    var es = new EventSource('/events');
    es.addEventListener('open', function () { live(true); });
    es.addEventListener('error', function () {
      live(false);
      if (es.readyState !== 2) return;
      setTimeout(function () { api('GET', '/api/overview').then(connect, function () { setTimeout(connect, 5000); }); }, 3000);
    });
    es.addEventListener('overview', function (ev) { renderOverview(JSON.parse(ev.data)); });
    es.addEventListener('tasks', function (ev) {
      var d = JSON.parse(ev.data);
      applyRows(d.rows);
      if (d.dropped > 0 && !$('view-tasks').hidden) loadTasks();
    });
  }

  // ---- forms ------------------------------------------------------------------------------
  $('task-filter').addEventListener('input', function () {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(loadTasks, 200);
  });
  $('task-filter').addEventListener('submit', function (ev) { ev.preventDefault(); loadTasks(); });
  $('dlq-filter').addEventListener('submit', function (ev) { ev.preventDefault(); loadDlq(); });
  $('dlq-replay-all').addEventListener('click', function () {
    var q = dlqQueue();
    if (confirm('Replay every dead letter' + (q ? ' of queue ' + q : '') + '?')) replay(q ? { all: true, queue: q } : { all: true });
  });
  $('dlq-purge').addEventListener('click', function () {
    var q = dlqQueue();
    if (!confirm('Remove every dead letter' + (q ? ' of queue ' + q : '') + '? This cannot be undone.')) return;
    api('POST', '/api/dlq/purge', q ? { queue: q } : {}).then(function (res) { toast(res.removed + ' dead letter(s) removed'); loadDlq(); }).catch(fail);
  });
  $('revoke').addEventListener('click', function () {
    var id = selected;
    if (!id) return;
    api('POST', '/api/tasks/' + encodeURIComponent(id) + '/revoke', { terminate: $('revoke-terminate').checked }).then(function () {
      toast('revoked ' + id);
      showTask(id);
    }).catch(fail);
  });
  $('rate-limit-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var f = ev.target.elements;
    var task = f.task.value.trim();
    var rate = f.rate.value.trim();
    api('POST', '/api/rate-limit', { task: task, rate: rate || null }).then(function () {
      toast('rate limit of ' + task + ': ' + (rate || 'configured rate'));
    }).catch(fail);
  });
  $('logout').addEventListener('click', function () {
    api('POST', '/logout', {}).then(function () { location.href = '/login'; }).catch(fail);
  });

  window.addEventListener('hashchange', route);
  route();
  connect();
})();
`;
