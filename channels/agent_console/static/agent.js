/*
 * 一事通 · 12345坐席工作台 — agent console.
 *
 * Plain ES2020, no dependencies, no build step. Talks to /api/agent/* (JSON, session cookie,
 * X-Yishi-CSRF on every POST) and listens on the /api/agent/ws WebSocket for queue changes,
 * new messages, transfers and state changes.
 * Every piece of text that comes from the API is inserted with textContent; nothing from the
 * server or a citizen is ever parsed as HTML.
 */
(() => {
  'use strict';

  const API = '/api/agent';
  const REQUEST_TIMEOUT_MS = 20000;
  const PING_INTERVAL_MS = 20000;
  const WS_SILENCE_LIMIT_MS = 50000; // no message (not even a pong) for this long: reconnect
  const WS_BACKOFF_MAX_MS = 30000;
  const FALLBACK_POLL_MS = 15000; // refresh the queue over HTTP while the socket is down
  const AGENTS_REFRESH_MS = 15000;
  const LATE_WAIT_S = 180; // queue waits longer than this are highlighted
  const UNMASK_TTL_MS = 5 * 60 * 1000; // full slot values are hidden again after this
  const TOAST_MS = 6000;

  const TEXT_NETWORK_ERROR = '网络连接失败，请检查网络后重试。';
  const TEXT_GENERIC_ERROR = '操作失败，请稍后再试。';
  const TEXT_SESSION_EXPIRED = '登录已过期，请重新登录。';

  const CHANNEL_LABELS = {
    web: '网页',
    wechat: '微信公众号',
    elder: '长辈版',
    app: 'App',
    phone: '电话',
  };
  const STATE_LABELS = {
    bot: '智能助手接待中',
    queued: '排队中',
    agent: '人工服务中',
    closed: '已结束',
    transferred: '已转接',
  };
  const ROLE_LABELS = {
    agent: '坐席',
    supervisor: '班长',
    admin: '管理员',
  };
  const AUTHOR_LABELS = {
    citizen: '市民',
    bot: '智能助手',
    agent: '坐席',
    system: '系统',
  };
  const BAND_LABELS = {
    answer: '命中',
    clarify: '待澄清',
    none: '未命中',
  };

  // ---------------------------------------------------------------- state

  const state = {
    me: null,
    queue: [],
    mine: [],
    unread: new Map(), // sender -> number of unseen messages
    drafts: new Map(), // sender -> unsent reply text
    open: null, // detail of the conversation in the centre column
    openSender: null,
    openToken: 0, // bumped on every switch, so late answers for another conversation are dropped
    seen: new Set(), // message keys already in the transcript
    unmasked: null, // {sender, slots, reason, at}
    agents: [],
    agentsLoadedAt: 0,
    categories: [],
    quickReplies: [],
    sending: false,
    lastPollAt: 0,
    queueLoaded: false,
  };

  let els = null;

  // ---------------------------------------------------------------- helpers

  function $(id) {
    return document.getElementById(id);
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function asText(value) {
    if (value === undefined || value === null) return '';
    return typeof value === 'string' ? value : String(value);
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  /** Milliseconds since the epoch; naive ISO strings are taken as UTC (the API's zone). */
  function parseTime(value) {
    if (typeof value === 'number' && Number.isFinite(value)) {
      return value < 1e12 ? value * 1000 : value;
    }
    if (typeof value !== 'string' || !value.trim()) return NaN;
    let text = value.trim();
    if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(text)) {
      text = `${text.replace(' ', 'T')}Z`;
    }
    return Date.parse(text);
  }

  function pad(n) {
    return String(n).padStart(2, '0');
  }

  function formatClock(ms) {
    if (!Number.isFinite(ms)) return '';
    const d = new Date(ms);
    const now = new Date();
    const time = `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
    const sameDay = d.getFullYear() === now.getFullYear()
      && d.getMonth() === now.getMonth()
      && d.getDate() === now.getDate();
    return sameDay ? time : `${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${time}`;
  }

  function formatDate(ms) {
    if (!Number.isFinite(ms)) return '';
    const d = new Date(ms);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} `
      + `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }

  function formatDuration(seconds) {
    const s = Math.max(0, Math.floor(seconds));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = s % 60;
    return h > 0 ? `${h}:${pad(m)}:${pad(rest)}` : `${pad(m)}:${pad(rest)}`;
  }

  function channelOf(item) {
    const channel = asText(item && item.channel) || asText(item && item.sender).split(':', 1)[0];
    return channel;
  }

  function channelLabel(channel) {
    return CHANNEL_LABELS[channel] || channel || '未知渠道';
  }

  /** A short, stable handle for a citizen: channel + the tail of the sender id. */
  function citizenName(sender, channel) {
    const id = asText(sender).split(':').slice(1).join(':') || asText(sender);
    const tail = id.replace(/[^A-Za-z0-9]/g, '').slice(-6) || id.slice(-6);
    return `${channelLabel(channel || asText(sender).split(':', 1)[0])}市民 ${tail}`;
  }

  function agentLabel(agent) {
    if (!agent || typeof agent !== 'object') return '';
    const name = asText(agent.display_name) || asText(agent.username);
    const no = asText(agent.employee_no);
    return no ? `${name}（工号${no}）` : name;
  }

  function convPath(sender, action) {
    const base = `${API}/conversations/${encodeURIComponent(sender)}`;
    return action ? `${base}/${action}` : base;
  }

  // ---------------------------------------------------------------- API

  function defaultDetail(status) {
    if (status === 401) return TEXT_SESSION_EXPIRED;
    if (status === 403) return '没有权限执行此操作。';
    if (status === 404) return '会话不存在或已结束。';
    if (status === 429) return '操作过于频繁，请稍后再试。';
    return TEXT_GENERIC_ERROR;
  }

  const { ApiError, createApi, loginCredentials } = window.YishiStaffApi;

  /**
   * One JSON call (staff-api.js). A 401 (other than on login) means the session ended: the
   * login form is shown. Throws ApiError with the API's Chinese `detail`.
   */
  const api = createApi({
    timeoutMs: REQUEST_TIMEOUT_MS,
    networkText: TEXT_NETWORK_ERROR,
    defaultDetail,
    onUnauthorized: (_path, opts) => {
      if (!opts.allowUnauthenticated) showLogin(TEXT_SESSION_EXPIRED);
    },
  });

  function errorText(error) {
    return error instanceof ApiError ? error.detail : TEXT_GENERIC_ERROR;
  }

  // ---------------------------------------------------------------- toasts and announcements

  let toastTimer = null;

  function toast(text, kind = 'info', ms = TOAST_MS) {
    const node = els.toast;
    node.textContent = text;
    node.dataset.kind = kind;
    node.hidden = false;
    window.clearTimeout(toastTimer);
    toastTimer = window.setTimeout(() => {
      node.hidden = true;
      node.textContent = '';
    }, ms);
  }

  function announce(text) {
    // Clear first so the same text twice is announced twice.
    els.announcer.textContent = '';
    window.setTimeout(() => {
      els.announcer.textContent = text;
    }, 50);
  }

  // ---------------------------------------------------------------- login / logout

  function showLogin(message) {
    const wasIn = Boolean(state.me);
    wsStop();
    stopTicker();
    state.me = null;
    state.queue = [];
    state.queueLoaded = false;
    state.mine = [];
    state.unread.clear();
    state.drafts.clear();
    state.agents = [];
    state.agentsLoadedAt = 0;
    clearOpen();
    for (const dialog of [els.unmaskDialog, els.closeDialog]) {
      if (dialog.open) dialog.close();
    }
    show(els.workspace, false);
    show(els.loginView, true);
    show(els.me, false);
    show(els.logout, false);
    show(els.wsStatus, false);
    els.me.textContent = '';
    document.title = '一事通 · 12345坐席工作台';
    els.loginError.textContent = message || '';
    els.loginSubmit.disabled = false;
    els.loginSubmit.textContent = '登录';
    if (wasIn || !els.loginUsername.value) {
      els.loginPassword.value = '';
    }
    (els.loginUsername.value ? els.loginPassword : els.loginUsername).focus();
  }

  async function submitLogin(event) {
    event.preventDefault();
    const credentials = loginCredentials(els);
    if (!credentials) return;
    const { username, password } = credentials;
    els.loginSubmit.disabled = true;
    els.loginSubmit.textContent = '登录中…';
    try {
      const data = await api('POST', `${API}/login`, { username, password }, {
        allowUnauthenticated: true,
      });
      els.loginPassword.value = '';
      enterWorkspace(data.agent || { username });
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
      await api('POST', `${API}/logout`, undefined, { allowUnauthenticated: true });
    } catch (_) {
      /* the session is gone either way */
    }
    showLogin('您已退出登录。');
  }

  function renderMe() {
    const me = state.me;
    if (!me) return;
    els.me.textContent = '';
    els.me.appendChild(make('span', 'me-name', asText(me.display_name) || asText(me.username)));
    if (me.employee_no) els.me.appendChild(make('span', 'me-detail', `工号 ${me.employee_no}`));
    if (me.role) {
      els.me.appendChild(make('span', 'me-role', ROLE_LABELS[me.role] || asText(me.role)));
    }
    show(els.me, true);
  }

  function enterWorkspace(agent) {
    state.me = agent && typeof agent === 'object' ? agent : {};
    renderMe();
    show(els.loginView, false);
    show(els.workspace, true);
    show(els.logout, true);
    show(els.wsStatus, true);
    els.loginError.textContent = '';
    clearOpen();
    renderQueue([]);
    state.queueLoaded = false; // the first real queue is not announced item by item
    renderMine([]);
    startTicker();
    wsConnect();
    refreshQueue();
    refreshMine();
    loadQuickReplies();
    loadCategories();
    loadAgents(true);
  }

  // ---------------------------------------------------------------- queue

  /** Each queue item gets `since`: when it was queued, in this browser's clock. */
  function withSince(item) {
    const queuedAt = parseTime(item.queued_at);
    const waited = Number(item.waited_s);
    let since;
    if (Number.isFinite(waited) && waited >= 0) {
      since = Date.now() - waited * 1000; // immune to clock differences
    } else if (Number.isFinite(queuedAt)) {
      since = queuedAt;
    } else {
      since = Date.now();
    }
    return { ...item, since };
  }

  function renderWait(node, since) {
    const seconds = (Date.now() - since) / 1000;
    const text = `已等待 ${formatDuration(seconds)}`;
    if (node.textContent !== text) node.textContent = text;
    node.classList.toggle('late', seconds >= LATE_WAIT_S);
  }

  function fillQueueItem(li, item) {
    // The skeleton is built once per item; later refreshes only change text, so a focused
    // 接入 button keeps its focus.
    if (!li.firstChild) {
      const head = make('div', 'item-head');
      head.appendChild(make('span', 'tag tag-channel'));
      head.appendChild(make('span', 'tag tag-elder', '长辈版'));
      head.appendChild(make('span', 'position'));
      head.appendChild(make('span', 'wait'));
      li.appendChild(head);
      li.appendChild(make('p', 'item-reason'));
      li.appendChild(make('p', 'item-summary'));
      const foot = make('div', 'item-foot');
      foot.appendChild(make('span', 'item-sender'));
      const accept = make('button', 'btn btn-primary btn-small accept', '接入');
      accept.type = 'button';
      foot.appendChild(accept);
      li.appendChild(foot);
    }
    const setText = (selector, text) => {
      const node = li.querySelector(selector);
      if (node.textContent !== text) node.textContent = text;
      node.hidden = !text;
    };
    setText('.tag-channel', channelLabel(channelOf(item)));
    li.querySelector('.tag-elder').hidden = item.mode !== 'elder';
    setText('.position', item.position ? `第${item.position}位` : '');
    const wait = li.querySelector('.wait');
    wait.dataset.since = String(item.since);
    renderWait(wait, item.since);
    setText('.item-reason', asText(item.reason_text) || asText(item.reason));
    setText('.item-summary', asText(item.summary) || '（暂无摘要）');
    setText('.item-sender', citizenName(item.sender, channelOf(item)));
    li.querySelector('.accept').dataset.sender = item.sender;
  }

  /** Update the list in place (keyed by sender) so focus and scroll survive a refresh. */
  function reconcile(list, items, key, create, fill) {
    const existing = new Map();
    for (const child of Array.from(list.children)) existing.set(child.dataset.sender, child);
    const wanted = new Set(items.map(key));
    for (const [k, node] of existing) {
      if (!wanted.has(k)) node.remove();
    }
    items.forEach((item, index) => {
      const k = key(item);
      let node = existing.get(k);
      if (!node) {
        node = create(item);
        node.dataset.sender = k;
      }
      fill(node, item);
      const at = list.children[index];
      if (at !== node) list.insertBefore(node, at || null);
    });
  }

  function renderQueue(items) {
    const previous = new Set(state.queue.map((i) => i.sender));
    const valid = (Array.isArray(items) ? items : [])
      .filter((i) => i && typeof i === 'object' && typeof i.sender === 'string' && i.sender)
      .map(withSince);
    state.queue = valid;
    reconcile(
      els.queue,
      valid,
      (i) => i.sender,
      () => make('li', 'queue-item'),
      fillQueueItem,
    );
    els.queueCount.textContent = String(valid.length);
    show(els.queueEmpty, valid.length === 0);
    document.title = valid.length
      ? `（${valid.length}）一事通 · 12345坐席工作台`
      : '一事通 · 12345坐席工作台';
    const fresh = valid.filter((i) => !previous.has(i.sender));
    const firstLoad = !state.queueLoaded;
    state.queueLoaded = true;
    if (fresh.length && !firstLoad && state.me) {
      const first = fresh[0];
      announce(`新的排队会话：${channelLabel(channelOf(first))}，${asText(first.reason_text) || '市民请求人工服务'}`);
    }
  }

  async function refreshQueue() {
    state.lastPollAt = Date.now();
    try {
      const data = await api('GET', `${API}/queue`);
      if (state.me) renderQueue(data.items);
    } catch (_) {
      /* shown by the connection indicator; retried by the ticker */
    }
  }

  async function acceptConversation(sender, button) {
    if (button) button.disabled = true;
    // The queue item goes away as soon as the server takes the accept; show where it went.
    showPending(sender, '正在接入…');
    const token = state.openToken;
    try {
      const detail = await api('POST', convPath(sender, 'accept'));
      announce('已接入会话');
      if (token === state.openToken) await openConversation(sender, detail);
      refreshMine();
      refreshQueue();
    } catch (error) {
      if (token === state.openToken) clearOpen();
      if (error.status === 401) return;
      toast(errorText(error), 'error');
      refreshQueue();
    } finally {
      if (button && button.isConnected) button.disabled = false;
    }
  }

  // ---------------------------------------------------------------- my conversations

  function lastMessageText(last) {
    if (!last) return '';
    if (typeof last === 'string') return last;
    if (typeof last === 'object') {
      const author = AUTHOR_LABELS[last.author] || '';
      const text = asText(last.text);
      return author && text ? `${author}：${text}` : text;
    }
    return '';
  }

  function fillConvItem(li, item) {
    const active = item.sender === state.openSender;
    const unread = state.unread.get(item.sender) || 0;
    li.classList.toggle('active', active);
    li.classList.toggle('unread', unread > 0);
    li.dataset.state = asText(item.state);
    let button = li.querySelector('button.conv-open');
    if (!button) {
      button = make('button', 'conv-open');
      button.type = 'button';
      li.appendChild(button);
    }
    button.dataset.sender = item.sender;
    if (active) button.setAttribute('aria-current', 'true');
    else button.removeAttribute('aria-current');

    // The button itself stays (and keeps focus); only its content is redrawn on a change.
    const sig = JSON.stringify([item.state, item.channel, item.accepted_at,
      lastMessageText(item.last_message), unread]);
    if (button.dataset.sig === sig) return;
    button.dataset.sig = sig;
    button.textContent = '';
    const line = make('span', 'item-head');
    line.appendChild(make('span', 'tag tag-channel', channelLabel(channelOf(item))));
    line.appendChild(make('span', 'conv-name', citizenName(item.sender, channelOf(item))));
    if (unread > 0) line.appendChild(make('span', 'badge', `${unread}条新消息`));
    button.appendChild(line);
    const meta = [];
    if (item.state && item.state !== 'agent') meta.push(STATE_LABELS[item.state] || item.state);
    const accepted = parseTime(item.accepted_at);
    if (Number.isFinite(accepted)) meta.push(`接入 ${formatClock(accepted)}`);
    if (meta.length) button.appendChild(make('span', 'conv-meta-line', meta.join(' · ')));
    const last = lastMessageText(item.last_message);
    if (last) button.appendChild(make('span', 'conv-last', last));
  }

  function renderMine(items) {
    if (items !== undefined) {
      state.mine = (Array.isArray(items) ? items : [])
        .filter((i) => i && typeof i === 'object' && typeof i.sender === 'string' && i.sender);
    }
    reconcile(
      els.mine,
      state.mine,
      (i) => i.sender,
      () => make('li', 'conv-item'),
      fillConvItem,
    );
    els.mineCount.textContent = String(state.mine.length);
    show(els.mineEmpty, state.mine.length === 0);
  }

  async function refreshMine() {
    try {
      const data = await api('GET', `${API}/conversations`);
      if (state.me) renderMine(data.items);
    } catch (_) {
      /* retried on the next event or reconnect */
    }
  }

  // ---------------------------------------------------------------- the open conversation

  function clearOpen() {
    state.openToken += 1;
    state.open = null;
    state.openSender = null;
    state.seen = new Set();
    state.unmasked = null;
    els.transcript.textContent = '';
    els.transcript.appendChild(els.transcriptEmpty);
    show(els.transcriptEmpty, true);
    els.convTitle.textContent = '未选择会话';
    els.convMeta.textContent = '';
    els.replyInput.value = '';
    els.replyError.textContent = '';
    renderSlots();
    renderSuggestions([]);
    updateControls();
    if (state.me) renderMine();
  }

  function saveDraft() {
    if (!state.openSender) return;
    const text = els.replyInput.value;
    if (text.trim()) state.drafts.set(state.openSender, text);
    else state.drafts.delete(state.openSender);
  }

  /** Switch the centre column to `sender` before its detail has arrived. */
  function showPending(sender, text) {
    if (sender !== state.openSender) {
      saveDraft();
      clearOpen();
      state.openSender = sender;
      els.convTitle.textContent = citizenName(sender);
      els.replyInput.value = state.drafts.get(sender) || '';
      renderMine();
    }
    els.convMeta.textContent = text;
  }

  async function openConversation(sender, detail) {
    if (sender !== state.openSender) showPending(sender, '正在加载…');
    const token = state.openToken;
    state.unread.delete(sender);
    renderMine();
    let data = detail;
    if (!data || typeof data !== 'object' || !Array.isArray(data.messages)) {
      try {
        data = await api('GET', convPath(sender));
      } catch (error) {
        if (token !== state.openToken) return;
        if (error.status === 401) return;
        els.convMeta.textContent = errorText(error);
        toast(errorText(error), 'error');
        return;
      }
    }
    if (token !== state.openToken) return; // another conversation was opened meanwhile
    renderDetail(data);
    if (canAct()) loadAgents(false);
  }

  let detailRefreshTimer = null;

  /** Re-read the open conversation soon (new citizen message: slots and suggestions change). */
  function scheduleDetailRefresh() {
    window.clearTimeout(detailRefreshTimer);
    detailRefreshTimer = window.setTimeout(refreshOpen, 600);
  }

  async function refreshOpen() {
    const sender = state.openSender;
    if (!sender) return;
    const token = state.openToken;
    try {
      const data = await api('GET', convPath(sender));
      if (token === state.openToken) renderDetail(data);
    } catch (_) {
      /* keep what is shown */
    }
  }

  function renderDetail(detail) {
    state.open = { ...detail, sender: state.openSender };
    renderMeta();
    const messages = Array.isArray(detail.messages) ? detail.messages : [];
    const atBottom = isNearBottom();
    els.transcript.setAttribute('aria-busy', 'true');
    for (const message of messages) appendMessage(message, { scroll: false });
    els.transcript.setAttribute('aria-busy', 'false');
    show(els.transcriptEmpty, state.seen.size === 0);
    if (!els.transcriptEmpty.hidden) els.transcriptEmpty.textContent = '暂无消息';
    scrollTranscript(atBottom);
    renderSlots();
    renderSuggestions(detail.suggestions);
    updateControls();
  }

  function renderMeta() {
    const d = state.open;
    if (!d) return;
    const channel = channelOf(d);
    els.convTitle.textContent = citizenName(d.sender, channel);
    const parts = [`渠道：${channelLabel(channel)}`];
    if (d.mode === 'elder') parts.push('长辈版');
    parts.push(`状态：${STATE_LABELS[d.state] || asText(d.state) || '未知'}`);
    const reason = asText(d.reason_text) || asText(d.reason);
    if (reason) parts.push(`转人工原因：${reason}`);
    if (d.agent && state.me && d.agent.username && d.agent.username !== state.me.username) {
      parts.push(`当前坐席：${agentLabel(d.agent)}`);
    }
    const accepted = parseTime(d.accepted_at);
    if (Number.isFinite(accepted)) parts.push(`接入 ${formatClock(accepted)}`);
    els.convMeta.textContent = parts.join(' · ');
  }

  function messageKey(message) {
    if (message.id !== undefined && message.id !== null && message.id !== '') {
      return `id:${message.id}`;
    }
    return `${asText(message.author)}|${asText(message.at)}|${asText(message.text)}`;
  }

  function isNearBottom() {
    const t = els.transcript;
    return t.scrollHeight - t.scrollTop - t.clientHeight < 60;
  }

  function scrollTranscript(force) {
    if (!force && !isNearBottom()) return;
    const t = els.transcript;
    t.scrollTop = t.scrollHeight;
    window.requestAnimationFrame(() => {
      t.scrollTop = t.scrollHeight;
    });
  }

  function traceChips(trace) {
    if (!trace || typeof trace !== 'object') return null;
    const chips = [];
    const intent = trace.intent;
    if (intent && intent.name) {
      const conf = Number(intent.confidence);
      const text = Number.isFinite(conf) ? `意图 ${intent.name} ${conf.toFixed(2)}` : `意图 ${intent.name}`;
      chips.push([text, Number.isFinite(conf) && conf < 0.5 ? 'chip-warn' : 'chip-intent']);
    }
    const kb = trace.kb;
    if (kb && typeof kb === 'object') {
      const band = BAND_LABELS[kb.band] || asText(kb.band);
      const target = [asText(kb.service_id), asText(kb.aspect)].filter(Boolean).join('/');
      const score = Number(kb.score);
      let text = `知识库 ${band}`;
      if (target) text += ` ${target}`;
      if (Number.isFinite(score) && score > 0) text += ` ${score.toFixed(2)}`;
      chips.push([text, kb.band === 'answer' ? 'chip-kb' : 'chip-warn']);
    }
    if (trace.form) chips.push([`表单 ${trace.form}`, 'chip-form']);
    if (trace.handoff) chips.push(['转人工', 'chip-handoff']);
    if (trace.emergency) chips.push(['紧急', 'chip-emergency']);
    if (!chips.length) return null;
    const list = make('ul', 'chips');
    list.setAttribute('aria-label', '识别信息');
    for (const [text, kind] of chips) list.appendChild(make('li', `chip ${kind}`, text));
    return list;
  }

  function appendMessage(message, opts = {}) {
    if (!message || typeof message !== 'object') return false;
    const key = messageKey(message);
    if (state.seen.has(key)) return false;
    state.seen.add(key);
    show(els.transcriptEmpty, false);

    const author = AUTHOR_LABELS[message.author] ? message.author : 'system';
    const node = make('div', `msg msg-${author}`);
    node.dataset.author = author;
    if (message.id !== undefined && message.id !== null) node.dataset.id = String(message.id);
    let mine = false;
    if (author === 'agent' && state.me) {
      mine = message.agent
        ? message.agent === state.me.username
        : !message.agent_name || asText(message.agent_name).includes(asText(state.me.display_name));
    }
    if (mine) node.classList.add('msg-own');

    const meta = make('div', 'msg-meta');
    let label = AUTHOR_LABELS[author];
    if (author === 'agent' && message.agent_name) label += ` ${message.agent_name}`;
    meta.appendChild(make('span', 'msg-author', label));
    const at = parseTime(message.at);
    if (Number.isFinite(at)) {
      const time = make('time', 'msg-time', formatClock(at));
      time.dateTime = new Date(at).toISOString();
      meta.appendChild(time);
    }
    node.appendChild(meta);
    node.appendChild(make('div', 'msg-text', asText(message.text)));
    if (mine && message.id !== undefined && message.id !== null && message.id !== '') {
      const promote = make('button', 'btn btn-small msg-faq', '转为FAQ草稿');
      promote.type = 'button';
      promote.dataset.id = String(message.id);
      promote.setAttribute('aria-label', `把这条回复转为FAQ草稿：${asText(message.text).slice(0, 30)}`);
      node.appendChild(promote);
    }
    if (author === 'bot') {
      const chips = traceChips(message.trace);
      if (chips) node.appendChild(chips);
      if (message.trace && message.trace.emergency) node.classList.add('msg-emergency');
    }

    const atBottom = isNearBottom();
    els.transcript.appendChild(node);
    if (opts.scroll !== false) scrollTranscript(atBottom || mine);
    return true;
  }

  // ---------------------------------------------------------------- slots

  function renderSlots() {
    const d = state.open;
    const masked = d && Array.isArray(d.slots) ? d.slots : [];
    const un = state.unmasked;
    const unmasked = un && d && un.sender === d.sender && Date.now() - un.at < UNMASK_TTL_MS;
    if (un && !unmasked) state.unmasked = null;
    const slots = unmasked ? un.slots : masked;
    els.slots.textContent = '';
    els.slots.classList.toggle('raw', Boolean(unmasked));
    for (const slot of slots) {
      if (!slot || typeof slot !== 'object') continue;
      const row = make('div', 'slot');
      row.appendChild(make('dt', 'slot-label', asText(slot.label) || asText(slot.name)));
      const value = asText(slot.value);
      row.appendChild(make('dd', 'slot-value', value || '—'));
      els.slots.appendChild(row);
    }
    const count = els.slots.children.length;
    show(els.slotsEmpty, count === 0);
    if (unmasked) {
      els.slotsNote.textContent = `以下为完整信息（查看原因：${un.reason}），已记录在案，请勿外传。`;
      show(els.slotsNote, true);
    } else {
      els.slotsNote.textContent = '';
      show(els.slotsNote, false);
    }
    els.unmaskOpen.disabled = !(d && masked.length > 0);
  }

  function openUnmaskDialog() {
    if (!state.open) return;
    els.unmaskReason.value = '';
    els.unmaskError.textContent = '';
    els.unmaskSubmit.disabled = false;
    els.unmaskDialog.showModal();
    els.unmaskReason.focus();
  }

  async function submitUnmask(event) {
    event.preventDefault();
    const sender = state.openSender;
    if (!sender) {
      els.unmaskDialog.close();
      return;
    }
    const reason = els.unmaskReason.value.trim();
    if (!reason) {
      els.unmaskError.textContent = '请填写查看原因。';
      els.unmaskReason.focus();
      return;
    }
    els.unmaskSubmit.disabled = true;
    els.unmaskError.textContent = '';
    try {
      const data = await api('POST', convPath(sender, 'unmask'), { reason });
      if (sender === state.openSender) {
        state.unmasked = {
          sender,
          reason,
          at: Date.now(),
          slots: Array.isArray(data.slots) ? data.slots : [],
        };
        renderSlots();
        announce('已显示完整信息');
      }
      els.unmaskDialog.close();
      els.unmaskOpen.focus();
    } catch (error) {
      if (error.status === 401) return;
      els.unmaskError.textContent = errorText(error);
    } finally {
      els.unmaskSubmit.disabled = false;
    }
  }

  // ---------------------------------------------------------------- FAQ drafts from own replies

  // what citizens say to reach or leave a person is not the question an answer belongs to
  const CONTROL_TEXT = /^(?:人工|真人|不等了|登记回电|你好|您好|在吗|还在吗|谢谢|好的)[。！!？?]*$|转人工|找真人|人工客服|我要人工/;
  const faq = { node: null, sender: null, messageId: null };

  /** The citizen question before an agent's message in the transcript. */
  function questionBefore(node) {
    for (let prev = node.previousElementSibling; prev; prev = prev.previousElementSibling) {
      if (prev.dataset.author !== 'citizen') continue;
      const text = asText(prev.querySelector('.msg-text') && prev.querySelector('.msg-text').textContent).trim();
      if (text && !CONTROL_TEXT.test(text)) return text;
    }
    return '';
  }

  function openFaqDialog(button) {
    const node = button.closest('.msg');
    if (!node || !state.openSender) return;
    faq.node = button;
    faq.sender = state.openSender;
    faq.messageId = Number(button.dataset.id);
    els.faqQuestion.value = questionBefore(node);
    els.faqAnswer.value = asText(node.querySelector('.msg-text').textContent);
    els.faqError.textContent = '';
    els.faqSubmit.disabled = false;
    els.faqDialog.showModal();
    (els.faqQuestion.value ? els.faqAnswer : els.faqQuestion).focus();
  }

  async function submitFaqDraft(event) {
    event.preventDefault();
    const question = els.faqQuestion.value.trim();
    const answer = els.faqAnswer.value.trim();
    if (question.length < 4 || answer.length < 4) {
      els.faqError.textContent = question.length < 4 ? '请填写市民问题（至少4个字）。' : '请填写答案（至少4个字）。';
      (question.length < 4 ? els.faqQuestion : els.faqAnswer).focus();
      return;
    }
    els.faqSubmit.disabled = true;
    els.faqError.textContent = '';
    try {
      const draft = await api('POST', '/api/agent/faq-drafts', {
        sender: faq.sender, message_id: faq.messageId, question, answer,
      });
      els.faqDialog.close();
      if (faq.node) {
        // still focusable (aria-disabled), so focus returns where it was
        faq.node.textContent = '已转为FAQ草稿';
        faq.node.setAttribute('aria-label', `已转为FAQ草稿（编号${draft.id}）`);
        faq.node.setAttribute('aria-disabled', 'true');
        faq.node.focus();
      }
      toast(`已转为FAQ草稿（编号${draft.id}），等待管理员审核。`, 'info');
      announce('已转为FAQ草稿');
    } catch (error) {
      if (error.status === 401) return;
      els.faqError.textContent = errorText(error);
    } finally {
      els.faqSubmit.disabled = false;
    }
  }

  // ---------------------------------------------------------------- suggestions and quick replies

  function insertIntoReply(text) {
    const box = els.replyInput;
    const value = asText(text);
    if (!value) return;
    if (box.disabled) {
      toast('请先接入或选择一个正在服务的会话。', 'error');
      return;
    }
    const start = typeof box.selectionStart === 'number' ? box.selectionStart : box.value.length;
    const end = typeof box.selectionEnd === 'number' ? box.selectionEnd : box.value.length;
    box.setRangeText(value, start, end, 'end');
    box.focus();
    els.replyError.textContent = '';
    updateControls();
  }

  function renderSuggestions(items) {
    const list = (Array.isArray(items) ? items : [])
      .filter((s) => s && typeof s === 'object' && asText(s.text).trim())
      .slice(0, 3);
    els.suggestions.textContent = '';
    list.forEach((s, index) => {
      const li = make('li', 'suggestion');
      const title = asText(s.title) || [s.service_id, s.aspect].filter(Boolean).join(' · ') || '知识条目';
      const titleId = `suggestion-title-${index}`;
      const h = make('h3', 'suggestion-title', title);
      h.id = titleId;
      li.appendChild(h);
      const meta = [asText(s.service_id), asText(s.aspect)].filter(Boolean);
      const score = Number(s.score);
      if (Number.isFinite(score)) meta.push(`相关度 ${score.toFixed(2)}`);
      if (meta.length) li.appendChild(make('p', 'suggestion-meta', meta.join(' · ')));
      const body = make('p', 'suggestion-text', asText(s.text));
      body.tabIndex = 0; // it may scroll: keyboard users must be able to reach it
      li.appendChild(body);
      const insert = make('button', 'btn btn-small insert', '插入');
      insert.type = 'button';
      insert.setAttribute('aria-describedby', titleId);
      insert.addEventListener('click', () => insertIntoReply(s.text));
      li.appendChild(insert);
      els.suggestions.appendChild(li);
    });
    show(els.suggestionsEmpty, list.length === 0);
  }

  function renderQuickReplies() {
    els.quickReplies.textContent = '';
    for (const item of state.quickReplies) {
      const li = make('li', 'quick-item');
      const button = make('button', 'quick-reply', asText(item.title) || asText(item.text));
      button.type = 'button';
      button.title = asText(item.text);
      button.addEventListener('click', () => insertIntoReply(item.text));
      li.appendChild(button);
      els.quickReplies.appendChild(li);
    }
    show(els.quickEmpty, state.quickReplies.length === 0);
  }

  async function loadQuickReplies() {
    try {
      const data = await api('GET', `${API}/quick-replies`);
      state.quickReplies = (Array.isArray(data.items) ? data.items : [])
        .filter((i) => i && typeof i === 'object' && asText(i.text).trim());
      renderQuickReplies();
    } catch (_) {
      renderQuickReplies();
    }
  }

  // ---------------------------------------------------------------- reply

  function canAct() {
    const d = state.open;
    if (!d || !state.me || d.state !== 'agent') return false;
    return !d.agent || !d.agent.username || d.agent.username === state.me.username;
  }

  function updateControls() {
    const active = canAct();
    els.replyInput.disabled = !active;
    els.replySend.disabled = !active || state.sending || !els.replyInput.value.trim();
    els.handback.disabled = !active;
    els.closeOpen.disabled = !active;
    const hasTarget = Boolean(els.transferSelect.value);
    els.transferSelect.disabled = !active || state.agents.length === 0;
    els.transferSubmit.disabled = !active || !hasTarget;
    if (state.open && !active) {
      els.replyInput.placeholder = state.open.state === 'closed'
        ? '会话已结束'
        : '该会话当前不由您服务，无法回复';
    } else {
      els.replyInput.placeholder = active ? '输入回复内容，Ctrl+Enter 发送' : '请先选择会话';
    }
  }

  async function sendReply() {
    if (state.sending || !canAct()) return;
    const sender = state.openSender;
    const text = els.replyInput.value.trim();
    if (!text) {
      els.replyError.textContent = '请输入回复内容。';
      return;
    }
    state.sending = true;
    els.replyError.textContent = '';
    updateControls();
    try {
      const data = await api('POST', convPath(sender, 'reply'), { text });
      state.drafts.delete(sender);
      if (sender === state.openSender) {
        if (els.replyInput.value.trim() === text) els.replyInput.value = '';
        if (data.message) appendMessage(data.message);
        scrollTranscript(true);
      }
    } catch (error) {
      if (error.status !== 401 && sender === state.openSender) {
        els.replyError.textContent = errorText(error);
      }
      if (error.status === 409 || error.status === 404) refreshOpen();
    } finally {
      state.sending = false;
      updateControls();
      if (sender === state.openSender && !els.replyInput.disabled) els.replyInput.focus();
    }
  }

  // ---------------------------------------------------------------- transfer, handback, close

  async function loadAgents(force) {
    if (!force && Date.now() - state.agentsLoadedAt < AGENTS_REFRESH_MS) return;
    state.agentsLoadedAt = Date.now();
    try {
      const data = await api('GET', `${API}/agents`);
      const me = state.me ? state.me.username : null;
      state.agents = (Array.isArray(data.items) ? data.items : [])
        .filter((a) => a && typeof a === 'object' && a.username && a.online && a.username !== me);
    } catch (_) {
      state.agentsLoadedAt = 0;
    }
    renderAgents();
  }

  function renderAgents() {
    const select = els.transferSelect;
    const previous = select.value;
    select.textContent = '';
    if (state.agents.length === 0) {
      select.appendChild(make('option', '', '暂无其他在线坐席')).value = '';
    } else {
      select.appendChild(make('option', '', '请选择坐席')).value = '';
      for (const agent of state.agents) {
        const option = make('option', '', agentLabel(agent));
        option.value = agent.username;
        select.appendChild(option);
      }
      if (state.agents.some((a) => a.username === previous)) select.value = previous;
    }
    updateControls();
  }

  async function transfer() {
    const sender = state.openSender;
    const to = els.transferSelect.value;
    if (!sender || !to || !canAct()) return;
    const target = state.agents.find((a) => a.username === to);
    els.transferSubmit.disabled = true;
    try {
      await api('POST', convPath(sender, 'transfer'), { to });
      toast(`已转接给 ${agentLabel(target) || to}`);
      state.drafts.delete(sender);
      if (sender === state.openSender) clearOpen();
      refreshMine();
    } catch (error) {
      if (error.status === 401) return;
      toast(errorText(error), 'error');
      loadAgents(true);
    } finally {
      updateControls();
    }
  }

  async function handback() {
    const sender = state.openSender;
    if (!sender || !canAct()) return;
    els.handback.disabled = true;
    try {
      const data = await api('POST', convPath(sender, 'handback'));
      toast('已交还智能助手继续服务');
      if (sender === state.openSender && state.open) {
        state.open.state = asText(data.state) || 'bot';
        renderMeta();
      }
      state.drafts.delete(sender);
      refreshMine();
    } catch (error) {
      if (error.status === 401) return;
      toast(errorText(error), 'error');
    } finally {
      updateControls();
    }
  }

  async function loadCategories() {
    try {
      const data = await api('GET', `${API}/close-categories`);
      state.categories = (Array.isArray(data.items) ? data.items : [])
        .map((c) => (typeof c === 'string' ? c : asText(c && (c.name || c.title))))
        .filter(Boolean);
    } catch (_) {
      /* retried when the dialog opens */
    }
    renderCategories();
  }

  function renderCategories() {
    const select = els.closeCategory;
    const previous = select.value;
    select.textContent = '';
    select.appendChild(make('option', '', '请选择分类')).value = '';
    for (const category of state.categories) {
      const option = make('option', '', category);
      option.value = category;
      select.appendChild(option);
    }
    if (state.categories.includes(previous)) select.value = previous;
  }

  async function openCloseDialog() {
    if (!canAct()) return;
    els.closeError.textContent = '';
    els.closeSummary.value = '';
    els.closeTicket.checked = false;
    els.closeSubmit.disabled = false;
    renderCategories();
    els.closeCategory.value = '';
    els.closeDialog.showModal();
    els.closeCategory.focus();
    if (state.categories.length === 0) await loadCategories();
  }

  function ticketText(ticket) {
    if (!ticket || typeof ticket !== 'object') return '';
    const parts = [`已生成12345工单：编号 ${asText(ticket.number)}`];
    if (ticket.department) parts.push(`承办部门 ${ticket.department}`);
    const due = parseTime(ticket.due_at);
    if (Number.isFinite(due)) parts.push(`办理时限 ${formatDate(due)}`);
    else if (ticket.due_at) parts.push(`办理时限 ${ticket.due_at}`);
    return parts.join('，');
  }

  async function submitClose(event) {
    event.preventDefault();
    const sender = state.openSender;
    if (!sender || !canAct()) {
      els.closeDialog.close();
      return;
    }
    const category = els.closeCategory.value;
    if (!category) {
      els.closeError.textContent = '请选择诉求分类。';
      els.closeCategory.focus();
      return;
    }
    const summary = els.closeSummary.value.trim();
    const ticket = els.closeTicket.checked;
    els.closeSubmit.disabled = true;
    els.closeError.textContent = '';
    try {
      const data = await api('POST', convPath(sender, 'close'), { category, summary, ticket });
      els.closeDialog.close();
      const ticketInfo = ticketText(data.ticket);
      toast(ticketInfo ? `会话已结束。${ticketInfo}` : '会话已结束。', 'info', ticketInfo ? 15000 : TOAST_MS);
      state.drafts.delete(sender);
      if (sender === state.openSender && state.open) {
        state.open.state = asText(data.state) || 'closed';
        renderMeta();
        updateControls();
      }
      refreshMine();
    } catch (error) {
      if (error.status === 401) return;
      els.closeError.textContent = errorText(error);
    } finally {
      els.closeSubmit.disabled = false;
    }
  }

  // ---------------------------------------------------------------- WebSocket

  const ws = {
    socket: null,
    wanted: false,
    attempt: 0,
    everOpened: false,
    reconnectTimer: null,
    pingTimer: null,
    lastSeen: 0,
  };

  function setWsStatus(kind, text) {
    els.wsStatus.dataset.state = kind;
    els.wsStatus.textContent = text;
  }

  function wsUrl() {
    const proto = window.location.protocol === 'https:' ? 'wss:' : 'ws:';
    return `${proto}//${window.location.host}${API}/ws`;
  }

  function wsConnect() {
    if (!state.me) return;
    ws.wanted = true;
    window.clearTimeout(ws.reconnectTimer);
    ws.reconnectTimer = null;
    if (ws.socket) return;
    setWsStatus('connecting', ws.everOpened ? '正在重新连接…' : '正在连接…');
    let socket;
    try {
      socket = new WebSocket(wsUrl());
    } catch (_) {
      scheduleReconnect();
      return;
    }
    ws.socket = socket;
    ws.lastSeen = Date.now();

    socket.addEventListener('open', () => {
      if (ws.socket !== socket) return;
      const reconnected = ws.everOpened;
      ws.everOpened = true;
      ws.attempt = 0;
      ws.lastSeen = Date.now();
      setWsStatus('online', '实时连接正常');
      startPing();
      if (reconnected) resync();
    });

    socket.addEventListener('message', (event) => {
      if (ws.socket !== socket) return;
      ws.lastSeen = Date.now();
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (_) {
        return;
      }
      if (data && typeof data === 'object') handleEvent(data);
    });

    socket.addEventListener('close', (event) => {
      if (ws.socket !== socket) return;
      ws.socket = null;
      stopPing();
      if (event.code === 4401) {
        showLogin(TEXT_SESSION_EXPIRED);
        return;
      }
      if (ws.wanted) scheduleReconnect();
    });
  }

  function scheduleReconnect() {
    if (!ws.wanted || ws.reconnectTimer) return;
    const base = Math.min(WS_BACKOFF_MAX_MS, 1000 * 2 ** ws.attempt);
    const delay = Math.round(base * (0.75 + Math.random() * 0.5));
    ws.attempt += 1;
    setWsStatus('offline', `连接已断开，${Math.max(1, Math.round(delay / 1000))}秒后重连`);
    ws.reconnectTimer = window.setTimeout(async () => {
      ws.reconnectTimer = null;
      if (!ws.wanted) return;
      // A handshake refused for an expired session looks like any other failure: ask.
      if (ws.attempt >= 2) {
        try {
          await api('GET', `${API}/me`);
        } catch (error) {
          if (error.status === 401) return; // api() has shown the login form
        }
      }
      if (ws.wanted) wsConnect();
    }, delay);
  }

  function dropSocket() {
    const socket = ws.socket;
    ws.socket = null;
    stopPing();
    if (socket) {
      try {
        socket.close();
      } catch (_) {
        /* already closed */
      }
    }
  }

  function wsStop() {
    ws.wanted = false;
    ws.everOpened = false;
    ws.attempt = 0;
    window.clearTimeout(ws.reconnectTimer);
    ws.reconnectTimer = null;
    dropSocket();
    setWsStatus('offline', '未连接');
  }

  function startPing() {
    stopPing();
    ws.pingTimer = window.setInterval(() => {
      const socket = ws.socket;
      if (!socket || socket.readyState !== WebSocket.OPEN) return;
      if (Date.now() - ws.lastSeen > WS_SILENCE_LIMIT_MS) {
        dropSocket(); // half-open connection: start over
        scheduleReconnect();
        return;
      }
      try {
        socket.send(JSON.stringify({ type: 'ping' }));
      } catch (_) {
        /* the close event follows */
      }
    }, PING_INTERVAL_MS);
  }

  function stopPing() {
    window.clearInterval(ws.pingTimer);
    ws.pingTimer = null;
  }

  /** After a reconnect: anything may have changed while we were away. */
  function resync() {
    refreshQueue();
    refreshMine();
    if (state.openSender) refreshOpen();
  }

  function handleEvent(data) {
    switch (data.type) {
      case 'hello':
        if (data.agent && typeof data.agent === 'object') {
          state.me = { ...state.me, ...data.agent };
          renderMe();
        }
        break;
      case 'queue':
        renderQueue(data.items);
        break;
      case 'message':
        onMessageEvent(data);
        break;
      case 'assigned':
        onAssigned(data);
        break;
      case 'conversation':
        onConversationEvent(data);
        break;
      case 'agents':
        // Someone came online or left: the transfer list may change.
        loadAgents(true);
        break;
      default:
        break; // pong and anything newer
    }
  }

  function onMessageEvent(data) {
    const sender = asText(data.sender);
    const message = data.message;
    if (!sender || !message || typeof message !== 'object') return;
    const known = state.mine.find((c) => c.sender === sender);
    if (known) known.last_message = message;
    if (sender === state.openSender) {
      appendMessage(message);
      if (message.author === 'citizen') scheduleDetailRefresh();
    } else if (message.author !== 'agent') {
      state.unread.set(sender, (state.unread.get(sender) || 0) + 1);
      if (message.author === 'citizen') announce(`${citizenName(sender)} 发来新消息`);
    }
    if (known) renderMine();
    else refreshMine();
  }

  function onAssigned(data) {
    const sender = asText(data.sender);
    const by = data.by;
    const byName = typeof by === 'object' && by ? agentLabel(by) : asText(by);
    const text = byName ? `${byName} 将一个会话转接给您` : '有一个会话转接给您';
    toast(text);
    announce(text);
    if (sender && sender !== state.openSender) {
      state.unread.set(sender, Math.max(1, state.unread.get(sender) || 0));
    }
    refreshMine();
    if (sender && sender === state.openSender) refreshOpen();
  }

  function onConversationEvent(data) {
    const sender = asText(data.sender);
    const newState = asText(data.state);
    if (sender && sender === state.openSender && state.open && newState) {
      const changed = state.open.state !== newState;
      state.open.state = newState;
      renderMeta();
      updateControls();
      if (changed && newState === 'closed') toast('该会话已结束。');
      refreshOpen();
    }
    refreshMine();
  }

  // ---------------------------------------------------------------- ticker

  let tickTimer = null;

  function tick() {
    for (const node of els.queue.querySelectorAll('.wait[data-since]')) {
      renderWait(node, Number(node.dataset.since));
    }
    const online = ws.socket && ws.socket.readyState === WebSocket.OPEN;
    if (!online && state.me && Date.now() - state.lastPollAt > FALLBACK_POLL_MS) {
      refreshQueue();
      refreshMine();
    }
    if (state.unmasked && Date.now() - state.unmasked.at >= UNMASK_TTL_MS) renderSlots();
  }

  function startTicker() {
    stopTicker();
    state.lastPollAt = Date.now();
    tickTimer = window.setInterval(tick, 1000);
  }

  function stopTicker() {
    window.clearInterval(tickTimer);
    tickTimer = null;
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    els = {
      loginView: $('login-view'),
      loginForm: $('login-form'),
      loginUsername: $('login-username'),
      loginPassword: $('login-password'),
      loginSubmit: $('login-submit'),
      loginError: $('login-error'),
      workspace: $('workspace'),
      me: $('me'),
      logout: $('logout'),
      wsStatus: $('ws-status'),
      announcer: $('announcer'),
      toast: $('toast'),
      queue: $('queue'),
      queueCount: $('queue-count'),
      queueEmpty: $('queue-empty'),
      mine: $('my-conversations'),
      mineCount: $('mine-count'),
      mineEmpty: $('mine-empty'),
      convTitle: $('conv-title'),
      convMeta: $('conv-meta'),
      transcript: $('transcript'),
      transcriptEmpty: $('transcript-empty'),
      replyForm: $('reply-form'),
      replyInput: $('reply-input'),
      replySend: $('reply-send'),
      replyError: $('reply-error'),
      transferSelect: $('transfer-select'),
      transferSubmit: $('transfer-submit'),
      handback: $('handback'),
      closeOpen: $('close-open'),
      slots: $('slots'),
      slotsEmpty: $('slots-empty'),
      slotsNote: $('slots-note'),
      unmaskOpen: $('unmask-open'),
      unmaskDialog: $('unmask-dialog'),
      unmaskForm: $('unmask-form'),
      unmaskReason: $('unmask-reason'),
      unmaskError: $('unmask-error'),
      unmaskSubmit: $('unmask-submit'),
      unmaskCancel: $('unmask-cancel'),
      suggestions: $('suggestions'),
      suggestionsEmpty: $('suggestions-empty'),
      quickReplies: $('quick-replies'),
      quickEmpty: $('quick-empty'),
      closeDialog: $('close-dialog'),
      closeForm: $('close-form'),
      closeCategory: $('close-category'),
      closeSummary: $('close-summary'),
      closeTicket: $('close-ticket'),
      closeError: $('close-error'),
      closeSubmit: $('close-submit'),
      closeCancel: $('close-cancel'),
      faqDialog: $('faq-dialog'),
      faqForm: $('faq-form'),
      faqQuestion: $('faq-question'),
      faqAnswer: $('faq-answer'),
      faqError: $('faq-error'),
      faqSubmit: $('faq-submit'),
      faqCancel: $('faq-cancel'),
    };

    els.loginForm.addEventListener('submit', submitLogin);
    els.logout.addEventListener('click', logout);

    els.queue.addEventListener('click', (event) => {
      const button = event.target.closest('button.accept');
      if (button && els.queue.contains(button)) acceptConversation(button.dataset.sender, button);
    });
    els.mine.addEventListener('click', (event) => {
      const button = event.target.closest('button.conv-open');
      if (button && els.mine.contains(button)) openConversation(button.dataset.sender);
    });

    els.replyForm.addEventListener('submit', (event) => {
      event.preventDefault();
      sendReply();
    });
    els.replyInput.addEventListener('keydown', (event) => {
      if (event.key === 'Enter' && (event.ctrlKey || event.metaKey) && !event.isComposing) {
        event.preventDefault();
        sendReply();
      }
    });
    els.replyInput.addEventListener('input', () => {
      els.replyError.textContent = '';
      updateControls();
    });

    els.transferSelect.addEventListener('change', updateControls);
    els.transferSelect.addEventListener('focus', () => loadAgents(false));
    els.transferSubmit.addEventListener('click', transfer);
    els.handback.addEventListener('click', handback);

    els.unmaskOpen.addEventListener('click', openUnmaskDialog);
    els.unmaskForm.addEventListener('submit', submitUnmask);
    els.unmaskCancel.addEventListener('click', () => els.unmaskDialog.close());

    els.transcript.addEventListener('click', (event) => {
      const button = event.target.closest('button.msg-faq');
      if (button && button.getAttribute('aria-disabled') !== 'true' && els.transcript.contains(button)) {
        openFaqDialog(button);
      }
    });
    els.faqForm.addEventListener('submit', submitFaqDraft);
    els.faqCancel.addEventListener('click', () => els.faqDialog.close());

    els.closeOpen.addEventListener('click', openCloseDialog);
    els.closeForm.addEventListener('submit', submitClose);
    els.closeCancel.addEventListener('click', () => els.closeDialog.close());
    els.closeDialog.addEventListener('close', () => {
      if (!els.closeOpen.disabled) els.closeOpen.focus();
    });

    // Coming back to the tab after a sleep: the socket may be dead without knowing it.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState !== 'visible' || !state.me) return;
      if (!ws.socket && ws.wanted) {
        window.clearTimeout(ws.reconnectTimer);
        ws.reconnectTimer = null;
        wsConnect();
      }
    });

    updateControls();
    api('GET', `${API}/me`, undefined, { allowUnauthenticated: true })
      .then((data) => enterWorkspace(data.agent || data))
      .catch((error) => {
        showLogin(error.status === 401 ? '' : errorText(error));
      });
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
