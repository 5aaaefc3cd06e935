/*
 * 一事通 · 运营看板 — the admin dashboard.
 *
 * Plain ES2020, no build step. Logs in through /api/agent/login (the staff session cookie;
 * POSTs carry X-Yishi-CSRF), then reads /api/admin/dashboard for a date range. Charts use
 * Chart.js when `make vendor` has put it in /admin-static/vendor/; without it the tables
 * carry the same numbers. Text from the API is inserted with textContent only.
 */
(() => {
  'use strict';

  const REQUEST_TIMEOUT_MS = 120000; // the first grouping of questions loads the embedding model
  const TIME_ZONE = 'Asia/Shanghai';
  const DEFAULT_DAYS = 7;
  const TEXT_NETWORK_ERROR = '网络连接失败，请检查网络后重试。';
  const TEXT_GENERIC_ERROR = '操作失败，请稍后再试。';
  const TEXT_FORBIDDEN = '需要管理员权限：当前账号不是管理员，无法查看运营看板。';
  // colours with at least 4.5:1 against white (text) and 3:1 between neighbours (charts)
  const COLORS = {
    brand: '#1a4f8b',
    ok: '#1b6e3f',
    warn: '#8a5a00',
    danger: '#a3231b',
    grey: '#4a5565',
    purple: '#5b3e96',
  };
  const RATING_COLORS = [COLORS.danger, '#c2410c', COLORS.grey, '#2f7d4f', COLORS.ok];

  const state = { me: null, charts: new Map(), from: '', to: '', loading: false, seq: 0 };
  const els = {};

  // ---------------------------------------------------------------- api

  function defaultDetail(status) {
    if (status === 401) return '请先登录。';
    if (status === 403) return TEXT_FORBIDDEN;
    if (status === 429) return '操作过于频繁，请稍后再试。';
    return TEXT_GENERIC_ERROR;
  }

  const { ApiError, createApi, loginCredentials } = window.YishiStaffApi;
  const api = createApi({
    timeoutMs: REQUEST_TIMEOUT_MS,
    networkText: TEXT_NETWORK_ERROR,
    defaultDetail,
  });

  function errorText(error) {
    return error instanceof ApiError ? error.detail : TEXT_GENERIC_ERROR;
  }

  function announce(text) {
    els.announcer.textContent = '';
    window.setTimeout(() => {
      els.announcer.textContent = text;
    }, 50);
  }

  // ---------------------------------------------------------------- views

  function showOnly(view) {
    for (const node of [els.loginView, els.forbiddenView, els.dashboard]) {
      node.hidden = node !== view;
    }
    const signedIn = view !== els.loginView;
    els.me.hidden = !signedIn || !state.me;
    els.logout.hidden = !signedIn;
  }

  function setMe(agent) {
    state.me = agent || null;
    els.me.textContent = agent
      ? `${agent.display_name || agent.username}（${agent.employee_no || agent.username}）`
      : '';
  }

  function showLogin(message) {
    setMe(null);
    destroyCharts();
    showOnly(els.loginView);
    els.loginError.textContent = message || '';
    els.loginSubmit.disabled = false;
    els.loginSubmit.textContent = '登录';
    els.loginPassword.value = '';
    (els.loginUsername.value ? els.loginPassword : els.loginUsername).focus();
  }

  function showForbidden(agent) {
    setMe(agent);
    destroyCharts();
    const who = agent ? `当前账号“${agent.display_name || agent.username}”不是管理员` : '当前账号不是管理员';
    els.forbiddenText.textContent = `需要管理员权限：${who}，无法查看运营看板。请使用管理员账号登录。`;
    showOnly(els.forbiddenView);
    els.forbiddenLogout.focus();
  }

  function enter(agent) {
    setMe(agent);
    if (!agent || agent.role !== 'admin') {
      showForbidden(agent);
      return;
    }
    showOnly(els.dashboard);
    if (!state.from) setDefaultRange(DEFAULT_DAYS);
    load();
  }

  // ---------------------------------------------------------------- login / logout

  async function onLogin(event) {
    event.preventDefault();
    const credentials = loginCredentials(els);
    if (!credentials) return;
    const { username, password } = credentials;
    els.loginSubmit.disabled = true;
    els.loginSubmit.textContent = '登录中…';
    try {
      const data = await api('POST', '/api/agent/login', { username, password });
      els.loginPassword.value = '';
      enter(data.agent);
    } catch (error) {
      els.loginError.textContent = errorText(error);
      els.loginPassword.select();
      els.loginPassword.focus();
    } finally {
      els.loginSubmit.disabled = false;
      els.loginSubmit.textContent = '登录';
    }
  }

  async function logout() {
    try {
      await api('POST', '/api/agent/logout');
    } catch (_) {
      // the session may already be gone; show the login form anyway
    }
    showLogin('');
  }

  // ---------------------------------------------------------------- dates

  function localToday() {
    // en-CA formats as YYYY-MM-DD
    return new Intl.DateTimeFormat('en-CA', {
      timeZone: TIME_ZONE, year: 'numeric', month: '2-digit', day: '2-digit',
    }).format(new Date());
  }

  function addDays(iso, days) {
    const [y, m, d] = iso.split('-').map(Number);
    const date = new Date(Date.UTC(y, m - 1, d + days));
    return date.toISOString().slice(0, 10);
  }

  function setDefaultRange(days) {
    const to = localToday();
    state.to = to;
    state.from = addDays(to, -(days - 1));
    els.from.value = state.from;
    els.to.value = state.to;
  }

  function onFilter(event) {
    event.preventDefault();
    const from = els.from.value;
    const to = els.to.value;
    if (!from || !to) {
      els.filterError.textContent = '请选择开始日期和结束日期。';
      (from ? els.to : els.from).focus();
      return;
    }
    if (from > to) {
      els.filterError.textContent = '开始日期不能晚于结束日期。';
      els.from.focus();
      return;
    }
    els.filterError.textContent = '';
    state.from = from;
    state.to = to;
    load();
  }

  function onQuick(event) {
    const days = Number(event.currentTarget.dataset.days);
    setDefaultRange(days);
    els.filterError.textContent = '';
    load();
  }

  // ---------------------------------------------------------------- loading

  function query() {
    return `from=${encodeURIComponent(state.from)}&to=${encodeURIComponent(state.to)}`;
  }

  function updateCsvLinks() {
    for (const link of document.querySelectorAll('a.csv')) {
      const section = link.dataset.section;
      link.href = `/api/admin/dashboard/export.csv?section=${encodeURIComponent(section)}&${query()}`;
      link.setAttribute('download', `yishi-${section}-${state.from}-${state.to}.csv`);
      link.setAttribute('aria-label', `导出CSV：${link.closest('section').querySelector('h2').textContent.trim()}`);
    }
  }

  async function load() {
    const seq = ++state.seq;
    updateCsvLinks();
    els.dashboard.setAttribute('aria-busy', 'true');
    els.period.textContent = `正在加载 ${state.from} 至 ${state.to} 的数据…`;
    els.apply.disabled = true;
    try {
      const data = await api('GET', `/api/admin/dashboard?${query()}`);
      if (seq !== state.seq) return;
      render(data);
      els.period.textContent = `统计范围：${data.period.from} 至 ${data.period.to}（北京时间）`;
      els.dashboard.dataset.loaded = `${data.period.from}/${data.period.to}`;
      announce(`已更新 ${data.period.from} 至 ${data.period.to} 的数据`);
    } catch (error) {
      if (seq !== state.seq) return;
      if (error.status === 401) {
        showLogin('登录已过期，请重新登录。');
      } else if (error.status === 403) {
        showForbidden(state.me);
      } else {
        els.period.textContent = '';
        els.filterError.textContent = errorText(error);
      }
    } finally {
      if (seq === state.seq) {
        els.dashboard.removeAttribute('aria-busy');
        els.apply.disabled = false;
      }
    }
  }

  // ---------------------------------------------------------------- rendering

  function pct(value) {
    return value === null || value === undefined ? '–' : `${(value * 100).toFixed(1)}%`;
  }

  function num(value) {
    return value === null || value === undefined ? '–' : String(value);
  }

  function service(row) {
    if (!row.service_id) return '–';
    return row.service_name && row.service_name !== row.service_id
      ? `${row.service_name}（${row.service_id}）`
      : row.service_id;
  }

  function seconds(value) {
    if (value === null || value === undefined) return '–';
    if (value < 60) return `${value}秒`;
    return `${Math.floor(value / 60)}分${value % 60}秒`;
  }

  function fillTable(id, rows, cells, emptyText) {
    const body = document.querySelector(`#${id} tbody`);
    const columns = document.querySelectorAll(`#${id} thead th`).length;
    body.replaceChildren();
    if (!rows.length) {
      const tr = document.createElement('tr');
      const td = document.createElement('td');
      td.colSpan = columns;
      td.className = 'empty';
      td.textContent = emptyText || '暂无数据';
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const row of rows) {
      const tr = document.createElement('tr');
      cells(row).forEach((value, index) => {
        const cell = document.createElement(index === 0 ? 'th' : 'td');
        if (index === 0) cell.scope = 'row';
        if (typeof value === 'number') cell.className = 'num';
        cell.textContent = typeof value === 'number' ? String(value) : value;
        tr.append(cell);
      });
      body.append(tr);
    }
  }

  function render(data) {
    const totals = data.totals;
    const kpis = {
      messages: num(totals.messages),
      conversations: num(totals.conversations),
      kb_turns: num(totals.kb_turns),
      answer_rate: pct(totals.answer_rate),
      clarify_rate: pct(totals.clarify_rate),
      handoff_rate: pct(totals.handoff_rate),
      rating_average: data.ratings.average === null ? '–' : data.ratings.average.toFixed(2),
      open_followups: num(data.ratings.open_followups),
      overdue: num(data.overdue_tickets.count),
    };
    for (const node of document.querySelectorAll('[data-kpi]')) {
      node.textContent = kpis[node.dataset.kpi];
    }

    fillTable('t-questions_per_day', data.questions_per_day, (r) => [
      r.date, r.messages, r.conversations, r.kb_questions, r.answered, r.clarify, r.unanswered,
    ]);
    fillTable('t-top_services', data.top_services, (r) => [
      String(data.top_services.indexOf(r) + 1), service(r), r.count, pct(r.share),
    ]);
    fillTable('t-top_questions', data.top_questions, (r) => [
      String(data.top_questions.indexOf(r) + 1), r.question, r.count, r.answered, service(r),
    ]);
    fillTable('t-unanswered', data.unanswered, (r) => [
      r.representative, r.size, r.none, r.clarify, service(r), r.examples.join(' | '),
    ], '期间没有未回答或待澄清的问题');
    const sim = data.similarity || {};
    els.similarityNote.textContent = sim.method === 'chars'
      ? `语义模型不可用，暂按字面相似度（阈值 ${sim.threshold}）归类。每一类可用一条知识修订覆盖。`
      : `按语义相似度（余弦阈值 ${sim.threshold ?? '–'}）归类，每一类可用一条知识修订覆盖。`;
    fillTable('t-handoffs', data.handoffs, (r) => [
      r.label, r.count, r.accepted, r.abandoned, seconds(r.avg_wait_s),
    ]);
    fillTable('t-ratings', data.ratings.distribution, (r) => [`${r.score}分`, r.label, r.count]);
    els.followupsLine.textContent = `期间评价 ${data.ratings.total} 条，其中差评（1-2分）${data.ratings.bad} 条；`
      + `当前待整改跟进 ${data.ratings.open_followups} 条。`;
    fillTable('t-funnels', data.funnels, (r) => [
      r.form_name, r.started, r.completed, r.abandoned, pct(r.completion_rate), r.submitted,
      r.drop_off.map((d) => `${d.label} ${d.count}`).join('；') || '–',
    ]);
    els.overdueCount.textContent = String(data.overdue_tickets.count);
    fillTable('t-overdue_tickets', data.overdue_tickets.items, (r) => [
      r.number, r.category, r.department, r.status, r.due_at.replace('T', ' ').slice(0, 16),
      r.overdue_days, r.summary,
    ], '没有超期工单');

    renderCharts(data);
  }

  // ---------------------------------------------------------------- charts

  function destroyCharts() {
    for (const chart of state.charts.values()) chart.destroy();
    state.charts.clear();
  }

  function chart(name, label, config) {
    const box = document.querySelector(`[data-chart="${name}"]`);
    if (!box) return;
    const old = state.charts.get(name);
    if (old) old.destroy();
    box.replaceChildren();
    const canvas = document.createElement('canvas');
    canvas.setAttribute('role', 'img');
    canvas.setAttribute('aria-label', `${label}（详细数据见下表）`);
    canvas.textContent = `${label}：详细数据见下表。`;
    box.append(canvas);
    const options = {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      plugins: { legend: { labels: { color: '#1d2430' } } },
      scales: {
        x: { ticks: { color: '#1d2430' }, grid: { color: '#e3e8ee' } },
        y: { ticks: { color: '#1d2430', precision: 0 }, grid: { color: '#e3e8ee' }, beginAtZero: true },
      },
    };
    const merged = { ...config, options: { ...options, ...(config.options || {}) } };
    state.charts.set(name, new window.Chart(canvas, merged));
  }

  function renderCharts(data) {
    const available = typeof window.Chart === 'function';
    els.chartNote.hidden = available;
    for (const box of document.querySelectorAll('.chart-box')) box.hidden = !available;
    if (!available) return;
    window.Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;

    const days = data.questions_per_day;
    chart('questions_per_day', '每日咨询量折线图', {
      type: 'line',
      data: {
        labels: days.map((d) => d.date.slice(5)),
        datasets: [
          { label: '市民消息', data: days.map((d) => d.messages), borderColor: COLORS.brand, backgroundColor: COLORS.brand },
          { label: '已回答', data: days.map((d) => d.answered), borderColor: COLORS.ok, backgroundColor: COLORS.ok },
          { label: '待澄清', data: days.map((d) => d.clarify), borderColor: COLORS.warn, backgroundColor: COLORS.warn },
          { label: '未回答', data: days.map((d) => d.unanswered), borderColor: COLORS.danger, backgroundColor: COLORS.danger },
        ],
      },
    });
    const services = data.top_services.slice(0, 10);
    chart('top_services', '热门事项条形图', {
      type: 'bar',
      data: {
        labels: services.map((s) => s.service_name || s.service_id),
        datasets: [{ label: '回答次数', data: services.map((s) => s.count), backgroundColor: COLORS.brand }],
      },
      options: { indexAxis: 'y', plugins: { legend: { display: false } },
        scales: { x: { ticks: { color: '#1d2430', precision: 0 }, beginAtZero: true }, y: { ticks: { color: '#1d2430' } } } },
    });
    chart('handoffs', '转人工原因条形图', {
      type: 'bar',
      data: {
        labels: data.handoffs.map((h) => h.label),
        datasets: [
          { label: '次数', data: data.handoffs.map((h) => h.count), backgroundColor: COLORS.brand },
          { label: '已接入', data: data.handoffs.map((h) => h.accepted), backgroundColor: COLORS.ok },
        ],
      },
    });
    chart('ratings', '评分分布柱状图', {
      type: 'bar',
      data: {
        labels: data.ratings.distribution.map((r) => `${r.score}分 ${r.label}`),
        datasets: [{ label: '评价数', data: data.ratings.distribution.map((r) => r.count), backgroundColor: RATING_COLORS }],
      },
      options: { plugins: { legend: { display: false } } },
    });
    chart('funnels', '表单办理漏斗柱状图', {
      type: 'bar',
      data: {
        labels: data.funnels.map((f) => f.form_name),
        datasets: [
          { label: '开始', data: data.funnels.map((f) => f.started), backgroundColor: COLORS.brand },
          { label: '完成提交', data: data.funnels.map((f) => f.completed), backgroundColor: COLORS.ok },
          { label: '中途放弃', data: data.funnels.map((f) => f.abandoned), backgroundColor: COLORS.danger },
        ],
      },
    });
  }

  // ---------------------------------------------------------------- start

  async function start() {
    const $ = (id) => document.getElementById(id);
    Object.assign(els, {
      announcer: $('announcer'),
      me: $('me'),
      logout: $('logout'),
      loginView: $('login-view'),
      loginForm: $('login-form'),
      loginUsername: $('login-username'),
      loginPassword: $('login-password'),
      loginSubmit: $('login-submit'),
      loginError: $('login-error'),
      forbiddenView: $('forbidden-view'),
      forbiddenText: $('forbidden-text'),
      forbiddenLogout: $('forbidden-logout'),
      dashboard: $('dashboard'),
      filter: $('filter'),
      from: $('from'),
      to: $('to'),
      apply: $('apply'),
      filterError: $('filter-error'),
      period: $('period'),
      chartNote: $('chart-note'),
      similarityNote: $('similarity-note'),
      followupsLine: $('followups-line'),
      overdueCount: $('overdue-count'),
    });
    els.loginForm.addEventListener('submit', onLogin);
    els.logout.addEventListener('click', logout);
    els.forbiddenLogout.addEventListener('click', logout);
    els.filter.addEventListener('submit', onFilter);
    for (const button of document.querySelectorAll('button.quick')) {
      button.addEventListener('click', onQuick);
    }
    try {
      const data = await api('GET', '/api/agent/me');
      enter(data.agent);
    } catch (_) {
      showLogin('');
    }
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
