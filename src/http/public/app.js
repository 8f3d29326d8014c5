// The live page: one EventSource (/events/stream) feeds the cards, the chart and the event list.
// Plain browser JavaScript, no build step; uPlot is served by the app from node_modules.
(function () {
  'use strict';

  const HISTORY_SECONDS = 300;
  const MAX_ROWS = 50;
  const STATUSES = ['pending', 'paid', 'packed', 'shipped', 'delivered', 'cancelled'];
  // The seed's orders (db/seed/0001_dev_orders.sql).
  const SEED_ORDER_IDS = 12;

  const $ = (id) => document.getElementById(id);
  const eventsList = $('events');

  // ---- chart ---------------------------------------------------------------------------------
  const points = new Map(); // t (unix s) -> { done, failed }
  let chart;

  function chartData() {
    const now = Math.floor(Date.now() / 1000) - 1;
    const xs = [];
    const done = [];
    const failed = [];
    for (let t = now - HISTORY_SECONDS + 1; t <= now; t++) {
      const p = points.get(t);
      xs.push(t);
      done.push(p ? p.done : 0);
      failed.push(p ? p.failed : 0);
    }
    return [xs, done, failed];
  }

  function makeChart() {
    const el = $('chart');
    const css = getComputedStyle(document.documentElement);
    chart = new uPlot(
      {
        width: el.clientWidth,
        height: 220,
        legend: { show: false },
        cursor: { y: false },
        scales: { y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.15))] } },
        axes: [
          {
            stroke: '#6b7686',
            grid: { stroke: '#eef1f6' },
            ticks: { stroke: '#e3e8ef' },
            space: 70,
            // Wall-clock time only: the chart spans five minutes of today.
            values: (_u, ticks) =>
              ticks.map((t) =>
                new Date(t * 1000).toLocaleTimeString([], {
                  hour: '2-digit',
                  minute: '2-digit',
                  second: '2-digit',
                  hour12: false,
                }),
              ),
          },
          {
            stroke: '#6b7686',
            grid: { stroke: '#eef1f6' },
            ticks: { stroke: '#e3e8ef' },
            size: 48,
          },
        ],
        series: [
          {},
          {
            label: 'done/s',
            stroke: css.getPropertyValue('--done').trim(),
            fill: 'rgba(31, 157, 107, 0.12)',
            width: 2,
            points: { show: false },
          },
          {
            label: 'failed/s',
            stroke: css.getPropertyValue('--failed').trim(),
            width: 2,
            points: { show: false },
          },
        ],
      },
      chartData(),
      el,
    );
    new ResizeObserver(() => chart.setSize({ width: el.clientWidth, height: 220 })).observe(el);
  }

  // ---- cards ---------------------------------------------------------------------------------
  function formatLag(seconds) {
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 120) return `${seconds.toFixed(1)} s`;
    if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }

  function setChip(el, ok, text) {
    el.className = `chip ${ok === undefined ? 'chip-wait' : ok ? 'chip-ok' : 'chip-bad'}`;
    el.textContent = text;
  }

  // ---- subscriptions ----------------------------------------------------------------------------
  const STATE_TEXT = { active: 'active', paused: 'paused', backing_off: 'backing off' };

  function subscriptionRow(name) {
    const body = $('subscriptions').tBodies[0];
    let tr = Array.from(body.rows).find((r) => r.dataset.subscription === name);
    if (tr) return tr;
    tr = document.createElement('tr');
    tr.dataset.subscription = name;
    for (const cls of ['name', 'state', 'behind', 'lag', 'rate', 'retrying', 'dead']) {
      const td = document.createElement('td');
      td.className = cls;
      tr.append(td);
    }
    tr.cells[0].textContent = name;
    // The lag bar: a <meter>, drawn by the browser (no style attribute: the CSP may refuse one).
    const meter = document.createElement('meter');
    meter.min = 0;
    const bar = cell('bar', '');
    bar.append(meter, cell('count', ''));
    tr.cells[2].append(bar);
    body.append(tr);
    return tr;
  }

  function showSubscriptions(list) {
    // The bars share one scale: the largest backlog, at least 10 events.
    const scale = Math.max(10, ...list.map((s) => s.behind));
    const names = new Set(list.map((s) => s.name));
    for (const tr of Array.from($('subscriptions').tBodies[0].rows)) {
      if (!names.has(tr.dataset.subscription)) tr.remove();
    }
    for (const s of list) {
      const tr = subscriptionRow(s.name);
      tr.dataset.state = s.state;
      const state = tr.cells[1];
      state.replaceChildren(cell(`state-chip ${s.state}`, STATE_TEXT[s.state] ?? s.state));
      if (s.state === 'backing_off' && s.backoffUntil) {
        state.append(cell('until', ` until ${new Date(s.backoffUntil).toLocaleTimeString()}`));
      }
      const meter = tr.cells[2].querySelector('meter');
      meter.max = scale;
      meter.value = Math.min(s.behind, scale);
      meter.title = `${s.behind.toLocaleString()} events after its position`;
      tr.cells[2].querySelector('.count').textContent =
        s.behind >= 10000 ? '10,000+' : s.behind.toLocaleString();
      tr.cells[3].textContent = formatLag(s.lagSeconds);
      tr.cells[3].className = `lag${s.lagSeconds > 5 ? ' warn' : ''}`;
      tr.cells[4].textContent = `${s.perSecond >= 10 ? Math.round(s.perSecond) : s.perSecond.toFixed(1)}/s`;
      tr.cells[5].textContent = s.retrying.toLocaleString();
      tr.cells[6].textContent = s.dead.toLocaleString();
      tr.cells[6].className = `dead${s.dead > 0 ? ' bad' : ''}`;
    }
  }

  function showStats(s) {
    showSubscriptions(s.subscriptions);
    $('pending').textContent = s.pending.toLocaleString();
    $('retrying').textContent = s.retrying.toLocaleString();
    $('dead').textContent = s.dead.toLocaleString();
    $('dead').className = `value${s.dead > 0 ? ' bad' : ''}`;
    $('lag').textContent = formatLag(s.lagSeconds);
    $('lag').className = `value${s.lagSeconds > 5 ? ' warn' : ''}`;
    $('handled').textContent = s.handledSinceStart.toLocaleString();
    setChip(
      $('listener-state'),
      s.listenerConnected,
      `listener: ${s.listenerConnected ? 'connected' : 'disconnected'}`,
    );
    const [, done] = chartData();
    const last10 = done.slice(-10).reduce((a, b) => a + b, 0) / 10;
    $('rate').textContent = last10 >= 10 ? Math.round(last10).toLocaleString() : last10.toFixed(1);
  }

  // ---- events --------------------------------------------------------------------------------
  function cell(cls, text) {
    const span = document.createElement('span');
    span.className = cls;
    span.textContent = text;
    return span;
  }

  /** One chip per subscription that settled the event here: its state there. */
  function stateChip(e) {
    const chip = cell(`pill ${e.status}`, `${e.subscription} · ${e.status}`);
    chip.classList.add('sub-state');
    chip.dataset.subscription = e.subscription;
    chip.dataset.status = e.status;
    chip.title = `${e.subscription}: ${e.status}, attempt ${e.attempt}${e.error ? `; ${e.error}` : ''}`;
    return chip;
  }

  function eventRow(e) {
    const li = document.createElement('li');
    li.dataset.id = e.id;
    li.dataset.aggregate = e.aggregate;
    li.append(cell('id', `#${e.id}`), cell('type', e.type));
    const change = cell('change', '');
    change.append(cell('agg', e.aggregate.replace(':', ' ')));
    change.append(document.createTextNode(e.change ?? ''));
    change.title = e.change ?? '';
    li.append(change, cell('subs', ''));
    li.append(cell('latency', `${e.latencyMs.toLocaleString()} ms`));
    li.append(cell('time', new Date(e.at).toLocaleTimeString()));
    li.title = `commit → handled ${e.latencyMs} ms`;
    return li;
  }

  /** An event settled in one subscription: its row (made once per event) gets that state. */
  function addEvent(e, fresh) {
    let li = Array.from(eventsList.children).find((r) => r.dataset.id === e.id);
    if (!li) {
      li = eventRow(e);
      eventsList.prepend(li);
      while (eventsList.children.length > MAX_ROWS) eventsList.lastElementChild.remove();
    }
    const subs = li.querySelector('.subs');
    const old = Array.from(subs.children).find((c) => c.dataset.subscription === e.subscription);
    if (old) old.replaceWith(stateChip(e));
    else subs.append(stateChip(e));
    if (e.error) {
      const change = li.querySelector('.change');
      change.querySelector('.err')?.remove();
      change.append(cell('err', e.error));
    }
    if (fresh) {
      // Restart the flash: a later subscription's state is news too.
      li.classList.remove('fresh');
      void li.offsetWidth;
      li.classList.add('fresh');
    }
    $('empty').hidden = true;
  }

  // ---- the stream ----------------------------------------------------------------------------
  // The service answers 503 or 429 while its live streams are at their cap (Retry-After: 5).
  const REFUSED_RETRY_MS = 5000;

  function connect() {
    const source = new EventSource('/events/stream');
    source.addEventListener('open', () => setChip($('stream-state'), true, 'stream: live'));
    source.addEventListener('error', () => {
      if (source.readyState !== EventSource.CLOSED) {
        setChip($('stream-state'), false, 'stream: reconnecting');
        return;
      }
      // EventSource gives up for good on an answer that is not a stream (the cap, or a proxy's
      // error page): try again later. The rest of the page (the button, the API) keeps working.
      setChip($('stream-state'), false, 'stream: unavailable (server busy), retrying');
      setTimeout(connect, REFUSED_RETRY_MS + Math.random() * 1000);
    });
    source.addEventListener('hello', (m) => {
      const { recent, history, stats } = JSON.parse(m.data);
      points.clear();
      for (const p of history) points.set(p.t, p);
      eventsList.replaceChildren();
      for (const e of recent.slice().reverse()) addEvent(e, false);
      $('empty').hidden = recent.length > 0;
      showStats(stats);
      chart.setData(chartData());
    });
    source.addEventListener('settled', (m) => addEvent(JSON.parse(m.data), true));
    source.addEventListener('stats', (m) => {
      const s = JSON.parse(m.data);
      points.set(s.point.t, s.point);
      chart.setData(chartData());
      showStats(s);
    });
  }

  // ---- the button: a random status change through the API -------------------------------------
  async function sendRandomChange() {
    const button = $('send');
    const status = $('send-status');
    button.disabled = true;
    status.className = 'send-status';
    try {
      const id = 1 + Math.floor(Math.random() * SEED_ORDER_IDS);
      const current = await fetch(`/orders/${id}`);
      const order = await current.json();
      if (!current.ok) throw new Error(order.error ? order.error.message : current.statusText);
      const choices = STATUSES.filter((s) => s !== order.status);
      const next = choices[Math.floor(Math.random() * choices.length)];
      const res = await fetch('/orders/update', {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ id, status: next }),
      });
      const body = await res.json();
      if (!res.ok) throw new Error(body.error ? body.error.message : res.statusText);
      status.textContent = `PATCH /orders/update: order ${id} ${order.status} → ${next}`;
      status.dataset.aggregate = `order:${id}`;
    } catch (err) {
      status.className = 'send-status error';
      status.textContent = `could not send: ${err.message}`;
    } finally {
      button.disabled = false;
    }
  }

  makeChart();
  connect();
  $('send').addEventListener('click', () => void sendRandomChange());
})();
