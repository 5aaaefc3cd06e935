/*
 * 一事通 · 示例市政务服务助手 — citizen web chat.
 *
 * Plain ES2020, no dependencies. Talks to POST /api/chat, gets its sender id and token from
 * POST /api/chat/session (falling back to a locally made id when that is unavailable) and polls
 * GET /api/chat/updates for messages that arrive on their own (human agents, notices, rating).
 * Every piece of text that comes from the API or the citizen is inserted with
 * textContent; no API or citizen text is ever parsed as HTML.
 */
(() => {
  'use strict';

  const API_URL = '/api/chat';
  const SESSION_URL = '/api/chat/session';
  const UPDATES_URL = '/api/chat/updates';
  const TOKEN_HEADER = 'X-Yishi-Citizen-Token';
  const CSRF_HEADER = 'X-Yishi-CSRF';
  const MODE = 'standard';
  const STORAGE_KEY = 'yishi.sender';
  const TOKEN_KEY = 'yishi.token';
  const AFTER_KEY = 'yishi.updates.after';
  const SENDER_PREFIX = 'web:';
  const MAX_LEN = 500;
  const REQUEST_TIMEOUT_MS = 60000;
  const SESSION_TIMEOUT_MS = 10000;
  const UPDATES_TIMEOUT_MS = 15000;
  const POLL_FAST_MS = 2000; // queued, with an agent, or a rating pending
  const POLL_SLOW_MS = 20000;
  const POLL_ABSENT_MS = 60000; // the server has no updates endpoint
  const FAST_AFTER_HUMAN_MS = 60000; // keep polling fast this long after leaving the agent
  const FAST_AFTER_SEND_MS = 15000;
  const FAST_WHILE_BUTTONS_MS = 10 * 60 * 1000; // a rating request waits this long at most

  const TEXT_NETWORK_ERROR = '网络连接失败，请检查网络后重试。';
  const TEXT_GENERIC_ERROR = '服务暂时不可用，请稍后再试。';
  const TEXT_TYPING = '正在输入…';
  const TEXT_STOP_WAITING = '不等了';
  const HUMAN_STATES = ['queued', 'agent'];

  // ---------------------------------------------------------------- storage

  let memorySender = null; // used when localStorage is unavailable
  let memoryToken = null; // X-Yishi-Citizen-Token; null when the session came from the fallback
  let sessionPromise = null;

  function storageGet(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (_) {
      return null;
    }
  }

  function storageSet(key, value) {
    try {
      window.localStorage.setItem(key, value);
    } catch (_) {
      /* private mode or storage disabled: keep it in memory only */
    }
  }

  function storageRemove(key) {
    try {
      window.localStorage.removeItem(key);
    } catch (_) {
      /* ignore */
    }
  }

  function randomHex(bytes) {
    const buf = new Uint8Array(bytes);
    if (window.crypto && typeof window.crypto.getRandomValues === 'function') {
      window.crypto.getRandomValues(buf);
    } else {
      for (let i = 0; i < buf.length; i += 1) {
        buf[i] = Math.floor(Math.random() * 256);
      }
    }
    return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  function newId() {
    // randomUUID exists only in secure contexts (https / localhost).
    if (window.crypto && typeof window.crypto.randomUUID === 'function') {
      try {
        return window.crypto.randomUUID();
      } catch (_) {
        /* fall through */
      }
    }
    return randomHex(16);
  }

  /** The sender id kept from an earlier visit, or null. */
  function storedSender() {
    let stored = storageGet(STORAGE_KEY);
    if (typeof stored === 'string') stored = stored.trim();
    if (stored && stored.startsWith(SENDER_PREFIX) && stored.length > SENDER_PREFIX.length) {
      return stored;
    }
    if (stored && !stored.includes(':')) {
      const fixed = SENDER_PREFIX + stored; // bare id: add the channel prefix
      storageSet(STORAGE_KEY, fixed);
      return fixed;
    }
    return null;
  }

  async function createSession() {
    const ctrl = new AbortController();
    const timer = window.setTimeout(() => ctrl.abort(), SESSION_TIMEOUT_MS);
    try {
      const response = await fetch(SESSION_URL, {
        method: 'POST',
        headers: { Accept: 'application/json', [CSRF_HEADER]: '1' },
        credentials: 'same-origin',
        signal: ctrl.signal,
      });
      if (!response.ok) return null;
      const data = await response.json();
      if (!data || typeof data.sender !== 'string' || !data.sender.includes(':')) return null;
      if (typeof data.token !== 'string' || !data.token) return null;
      return { sender: data.sender, token: data.token };
    } catch (_) {
      return null;
    } finally {
      window.clearTimeout(timer);
    }
  }

  /**
   * Resolve the sender id (and token) once: a stored pair, else a new server session, else
   * today's fallback (the stored id, or a locally made one) without a token.
   */
  function ensureSession() {
    if (memorySender) return Promise.resolve(memorySender);
    if (sessionPromise) return sessionPromise;
    const promise = (async () => {
      const stored = storedSender();
      const token = storageGet(TOKEN_KEY);
      if (stored && token) {
        memoryToken = token;
      } else {
        const created = await createSession();
        if (sessionPromise !== promise) return ensureSession(); // 新对话 pressed meanwhile
        if (created) {
          memorySender = created.sender;
          memoryToken = created.token;
          storageSet(STORAGE_KEY, created.sender);
          storageSet(TOKEN_KEY, created.token);
          storageRemove(AFTER_KEY);
          return memorySender;
        }
        memoryToken = null;
      }
      memorySender = stored || SENDER_PREFIX + newId();
      storageSet(STORAGE_KEY, memorySender);
      return memorySender;
    })();
    sessionPromise = promise;
    promise.finally(() => {
      if (sessionPromise === promise) sessionPromise = null;
    });
    return promise;
  }

  function forgetSender() {
    memorySender = null;
    memoryToken = null;
    sessionPromise = null;
    storageRemove(STORAGE_KEY);
    storageRemove(TOKEN_KEY);
    storageRemove(AFTER_KEY);
  }

  function authHeaders(extra) {
    const headers = { Accept: 'application/json', ...extra };
    if (memoryToken) headers[TOKEN_HEADER] = memoryToken;
    return headers;
  }

  // The id of the last update shown, per sender, so a reload does not repeat messages.
  function loadAfter(sender) {
    try {
      const saved = JSON.parse(storageGet(AFTER_KEY) || 'null');
      return saved && saved.sender === sender ? saved.after : null;
    } catch (_) {
      return null;
    }
  }

  function saveAfter(sender, after) {
    storageSet(AFTER_KEY, JSON.stringify({ sender, after }));
  }

  // ---------------------------------------------------------------- DOM helpers

  let els = null;

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  let stickToBottom = true; // false while the citizen has scrolled up to read

  function scrollToBottom() {
    const list = els.messages;
    stickToBottom = true;
    list.scrollTop = list.scrollHeight;
    // Once more after layout settles (fonts, wrapping, mobile keyboards).
    window.requestAnimationFrame(() => {
      list.scrollTop = list.scrollHeight;
    });
  }

  function appendRow(row) {
    // The typing indicator, when shown, always stays last.
    const typing = document.getElementById('typing-indicator');
    if (typing && typing.parentNode === els.messages) {
      els.messages.insertBefore(row, typing);
    } else {
      els.messages.appendChild(row);
    }
    scrollToBottom();
    return row;
  }

  function avatar(kind) {
    // The glyph comes from CSS so rows' textContent holds only message text.
    const node = make('div', `avatar avatar-${kind}`);
    node.setAttribute('aria-hidden', 'true');
    return node;
  }

  function addUserMessage(text) {
    const row = make('div', 'row row-user');
    const stack = make('div', 'stack');
    const bubble = make('div', 'msg user', text);
    stack.appendChild(bubble);
    row.appendChild(avatar('user'));
    row.appendChild(stack);
    return appendRow(row);
  }

  function addSystemMessage(text) {
    const row = make('div', 'row row-system');
    row.appendChild(make('div', 'msg system', text));
    return appendRow(row);
  }

  function asText(value) {
    if (value === undefined || value === null) return '';
    return typeof value === 'string' ? value : String(value);
  }

  // The answer text already ends with its source line; under it we link the full guide.
  function sourceLine(source) {
    if (!source || typeof source !== 'object') return null;
    const name = asText(source.title).trim() || asText(source.service_id).trim();
    if (!name) return null;
    let line = `查看《${name}》完整办事指南`;
    const version = asText(source.guide_version).trim();
    if (version) line += `（版本 ${version}）`;
    return line + ' ›';
  }

  function sourceHref(source) {
    const id = asText(source && source.service_id);
    if (!/^[a-z][a-z0-9_]{1,63}$/.test(id)) return null;
    const aspect = asText(source.aspect);
    return `/guides/${id}` + (/^[a-z_]{2,20}$/.test(aspect) ? `#${aspect}` : '');
  }

  function addBotReply(reply, emergency) {
    if (!reply || typeof reply !== 'object') return null;
    const text = asText(reply.text);
    const buttons = cleanButtons(reply.buttons);
    const citation = sourceLine(reply.source);
    if (!text.trim() && buttons.length === 0 && !citation) return null;

    const row = make('div', 'row row-bot');
    const stack = make('div', 'stack');

    if (text.trim()) {
      const bubble = make('div', 'msg bot', text);
      if (emergency) {
        bubble.classList.add('emergency');
        bubble.dataset.emergency = 'true';
      }
      stack.appendChild(bubble);
    }

    if (citation) {
      const href = sourceHref(reply.source);
      const link = make(href ? 'a' : 'div', 'source', citation);
      if (href) {
        link.href = href;
        link.target = '_blank';
        link.rel = 'noopener';
      }
      stack.appendChild(link);
    }

    if (buttons.length) stack.appendChild(buttonGroup(buttons));

    row.appendChild(avatar('bot'));
    row.appendChild(stack);
    return appendRow(row);
  }

  function cleanButtons(buttons) {
    return Array.isArray(buttons)
      ? buttons.filter((b) => b && typeof b === 'object' && (asText(b.title) || asText(b.payload)))
      : [];
  }

  function buttonGroup(buttons) {
    const group = make('div', 'reply-buttons');
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', '可选操作');
    for (const b of buttons) {
      const title = asText(b.title) || asText(b.payload);
      const payload = asText(b.payload) || asText(b.title);
      const btn = make('button', 'reply-button', title);
      btn.type = 'button';
      btn.addEventListener('click', () => {
        sendMessage(payload, title, { fromInput: false });
      });
      group.appendChild(btn);
    }
    return group;
  }

  /** "人工客服 张敏（工号1001）" from {display_name, employee_no}; "人工客服" without one. */
  function agentTitle(agent) {
    if (!agent || typeof agent !== 'object') return '人工客服';
    const name = asText(agent.display_name).trim();
    const number = asText(agent.employee_no).trim();
    let title = name ? `人工客服 ${name}` : '人工客服';
    if (number) title += `（工号${number}）`;
    return title;
  }

  /**
   * The name line over an agent's message: the message's own `agent_name` when the server
   * gives one (already "人工客服 张敏（工号1001）"), else built from the current agent.
   */
  function messageAgentTitle(message, fallback) {
    const name = asText(message.agent_name).trim();
    if (name) return name.startsWith('人工客服') ? name : `人工客服 ${name}`;
    if (message.agent && typeof message.agent === 'object') return agentTitle(message.agent);
    return agentTitle(fallback);
  }

  function addAgentMessage(text, title, buttons) {
    if (!text.trim() && !buttons.length) return null;
    const row = make('div', 'row row-agent');
    const stack = make('div', 'stack');
    stack.appendChild(make('div', 'agent-name', title));
    if (text.trim()) stack.appendChild(make('div', 'msg agent', text));
    if (buttons.length) stack.appendChild(buttonGroup(buttons));
    row.appendChild(avatar('agent'));
    row.appendChild(stack);
    return appendRow(row);
  }

  /** A centred notice ("客服已接入", "会话已结束"…), with its buttons under it. */
  function addNotice(text, buttons) {
    if (!text.trim() && !buttons.length) return null;
    const row = make('div', 'row row-system row-notice');
    const stack = make('div', 'stack stack-notice');
    if (text.trim()) stack.appendChild(make('div', 'msg system notice', text));
    if (buttons.length) stack.appendChild(buttonGroup(buttons));
    row.appendChild(stack);
    return appendRow(row);
  }

  function markDelivered(userRow, text) {
    const stack = userRow && userRow.querySelector('.stack');
    if (!stack || stack.querySelector('.delivery')) return;
    stack.appendChild(make('div', 'delivery', text));
  }

  function showTyping() {
    if (document.getElementById('typing-indicator')) return;
    if (HUMAN_STATES.includes(currentState)) return; // a person answers, not the bot
    const row = make('div', 'row row-bot row-typing');
    row.id = 'typing-indicator';
    const stack = make('div', 'stack');
    const bubble = make('div', 'msg typing');
    bubble.appendChild(make('span', 'typing-text', TEXT_TYPING));
    const dots = make('span', 'typing-dots');
    dots.setAttribute('aria-hidden', 'true');
    for (let i = 0; i < 3; i += 1) dots.appendChild(make('span', 'dot'));
    bubble.appendChild(dots);
    stack.appendChild(bubble);
    row.appendChild(avatar('bot'));
    row.appendChild(stack);
    els.messages.appendChild(row);
    scrollToBottom();
  }

  function hideTyping() {
    const typing = document.getElementById('typing-indicator');
    if (typing) typing.remove();
  }

  function clearMessages() {
    const list = els.messages;
    for (const child of Array.from(list.children)) {
      if (child !== els.hint) child.remove();
    }
  }

  // ---------------------------------------------------------------- state

  let currentState = null; // "bot" | "queued" | "agent" | "closed", as the server last said
  let currentAgent = null; // {display_name, employee_no} while an agent serves

  function queueText(queue) {
    let text = '正在为您转接人工客服';
    if (!queue || typeof queue !== 'object') return `${text}，请稍候`;
    const position = Number(queue.position);
    if (Number.isFinite(position) && position >= 1) {
      // position is the citizen's place in line (1 = next to be served)
      const ahead = Math.floor(position) - 1;
      text += ahead > 0 ? `，前面还有${ahead}位` : '，您是下一位';
    }
    const minutes = Number(queue.wait_minutes);
    if (queue.wait_minutes !== null && Number.isFinite(minutes) && minutes >= 0) {
      text += `，预计等待约${Math.max(1, Math.ceil(minutes))}分钟`;
    }
    return text;
  }

  function setState(state, queue, agent) {
    if (typeof state !== 'string' || !state) return;
    const previous = currentState;
    currentState = state;
    document.body.dataset.state = state;
    if (agent && typeof agent === 'object') currentAgent = agent;
    else if (state !== 'agent') currentAgent = null;

    let text = '';
    if (state === 'queued') text = queueText(queue);
    else if (state === 'agent') text = `${agentTitle(currentAgent)}正在为您服务`;

    const bar = els.stateBar;
    if (text) {
      bar.dataset.state = state;
      bar.hidden = false;
      // Only real changes, so screen readers are not told the same thing every poll.
      if (els.stateText.textContent !== text) els.stateText.textContent = text;
      els.stateCancel.hidden = state !== 'queued';
    } else {
      resetStateBar();
    }

    if (previous !== state) {
      if (HUMAN_STATES.includes(previous) && !HUMAN_STATES.includes(state)) {
        poll.fastUntil = Date.now() + FAST_AFTER_HUMAN_MS; // notices and rating follow
      }
      if (HUMAN_STATES.includes(state)) poll.absent = false;
      schedulePoll();
    }
  }

  function resetStateBar() {
    els.stateText.textContent = '';
    delete els.stateBar.dataset.state;
    els.stateBar.hidden = true;
    els.stateCancel.hidden = true;
  }

  function resetState() {
    currentState = null;
    currentAgent = null;
    delete document.body.dataset.state;
    resetStateBar();
  }

  // ---------------------------------------------------------------- updates (polling)

  const poll = {
    timer: null,
    inFlight: false,
    fastUntil: 0,
    buttonsUntil: 0, // a rating or other pushed question with buttons awaits an answer
    absent: false,
    seen: new Set(),
  };

  function pollDelay() {
    if (HUMAN_STATES.includes(currentState)) return POLL_FAST_MS;
    if (Date.now() < Math.max(poll.fastUntil, poll.buttonsUntil)) return POLL_FAST_MS;
    return poll.absent ? POLL_ABSENT_MS : POLL_SLOW_MS;
  }

  function schedulePoll(delay) {
    window.clearTimeout(poll.timer);
    poll.timer = window.setTimeout(pollUpdates, delay === undefined ? pollDelay() : delay);
  }

  async function pollUpdates() {
    poll.timer = null;
    if (poll.inFlight) {
      schedulePoll(500);
      return;
    }
    const myGeneration = generation;
    poll.inFlight = true;
    const ctrl = new AbortController();
    const timer = window.setTimeout(() => ctrl.abort(), UPDATES_TIMEOUT_MS);
    try {
      const sender = await ensureSession();
      if (myGeneration !== generation) return;
      const after = loadAfter(sender);
      let url = `${UPDATES_URL}?sender=${encodeURIComponent(sender)}`;
      if (after !== null && after !== undefined && after !== '') {
        url += `&after=${encodeURIComponent(after)}`;
      }
      const response = await fetch(url, {
        method: 'GET',
        headers: authHeaders(),
        credentials: 'same-origin',
        cache: 'no-store',
        signal: ctrl.signal,
      });
      if (myGeneration !== generation) return;
      if (response.status === 404 || response.status === 405) {
        poll.absent = !HUMAN_STATES.includes(currentState);
        return;
      }
      if (response.status === 401 || response.status === 403) {
        // No token, or one that is not this sender's: start a proper session. The next
        // message goes to the new conversation (the old one cannot be read anyway).
        forgetSender();
        await ensureSession();
        return;
      }
      if (!response.ok) return;
      poll.absent = false;
      const data = await response.json();
      if (myGeneration !== generation) return;
      applyUpdates(sender, data);
    } catch (_) {
      /* offline or timed out: try again on schedule */
    } finally {
      window.clearTimeout(timer);
      poll.inFlight = false;
      if (myGeneration === generation && !poll.timer) schedulePoll();
    }
  }

  function applyUpdates(sender, data) {
    if (!data || typeof data !== 'object') return;
    setState(data.state, data.queue, data.agent);
    const messages = Array.isArray(data.messages) ? data.messages : [];
    let last = null;
    for (const message of messages) {
      if (!message || typeof message !== 'object') continue;
      if (message.id !== undefined && message.id !== null) {
        const key = String(message.id);
        last = message.id;
        if (poll.seen.has(key)) continue;
        poll.seen.add(key);
      }
      renderUpdate(message, data.agent);
    }
    if (last !== null) saveAfter(sender, last);
  }

  function renderUpdate(message, agent) {
    const text = asText(message.text);
    const buttons = cleanButtons(message.buttons);
    let row = null;
    if (message.author === 'agent') {
      row = addAgentMessage(text, messageAgentTitle(message, agent || currentAgent), buttons);
    } else if (message.author === 'system') {
      row = addNotice(text, buttons);
    } else if (message.author === 'bot') {
      row = addBotReply({ text, buttons, source: message.source });
    }
    if (row && buttons.length) poll.buttonsUntil = Date.now() + FAST_WHILE_BUTTONS_MS;
  }

  // ---------------------------------------------------------------- sending

  let busy = false;
  let generation = 0; // bumped by 新对话 so late answers of the old chat are dropped
  let controller = null;

  function setBusy(value) {
    busy = value;
    els.send.disabled = value;
    els.messages.setAttribute('aria-busy', value ? 'true' : 'false');
  }

  function restoreInput(text) {
    const current = els.input.value;
    els.input.value = current.trim() ? `${text} ${current}`.slice(0, MAX_LEN) : text;
  }

  async function postChat(text, signal, retried = false) {
    const sender = await ensureSession();
    const response = await fetch(API_URL, {
      method: 'POST',
      headers: authHeaders({ 'Content-Type': 'application/json', [CSRF_HEADER]: '1' }),
      credentials: 'same-origin',
      body: JSON.stringify({ sender, text, mode: MODE }),
      signal,
    });
    let data = null;
    try {
      data = await response.json();
    } catch (_) {
      data = null;
    }
    if (response.ok && data && typeof data === 'object') {
      return { ok: true, data };
    }
    if ((response.status === 401 || response.status === 403) && !retried) {
      // The token is missing, expired or not this sender's: start a new session, once.
      forgetSender();
      await ensureSession();
      if (memoryToken) return postChat(text, signal, true);
    }
    const detail = data && typeof data.detail === 'string' ? data.detail.trim() : '';
    return { ok: false, message: detail || TEXT_GENERIC_ERROR };
  }

  function renderAnswer(data, userRow) {
    setState(data.state, data.queue, data.agent);
    const emergency = Boolean(data.trace && data.trace.emergency);
    const replies = Array.isArray(data.replies) ? data.replies : [];
    let shown = 0;
    for (const reply of replies) {
      if (addBotReply(reply, emergency)) shown += 1;
    }
    if (shown === 0 && currentState === 'agent') markDelivered(userRow, '已送达人工客服');
    else if (shown === 0 && currentState === 'queued') markDelivered(userRow, '已送达，排队中');
  }

  /**
   * Send `text` to the assistant, showing `display` as the citizen's bubble.
   * opts.fromInput: the text was typed, so give it back to the input on failure.
   */
  async function sendMessage(text, display, opts = {}) {
    const payload = asText(text).slice(0, MAX_LEN);
    if (busy || !payload.trim()) return false;

    const myGeneration = generation;
    const ctrl = new AbortController();
    controller = ctrl;
    setBusy(true);
    if (Date.now() < poll.buttonsUntil || (currentState && currentState !== 'bot')) {
      poll.fastUntil = Date.now() + FAST_AFTER_SEND_MS; // answers may come as updates
    }
    poll.buttonsUntil = 0;

    const userRow = addUserMessage(display || payload);
    showTyping();

    const timer = window.setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
    let result;
    try {
      result = await postChat(payload, ctrl.signal);
    } catch (_) {
      result = { ok: false, message: TEXT_NETWORK_ERROR };
    } finally {
      window.clearTimeout(timer);
    }

    if (myGeneration !== generation) return false; // 新对话 was pressed meanwhile

    controller = null;
    hideTyping();
    setBusy(false);

    if (result.ok) {
      renderAnswer(result.data, userRow);
      schedulePoll(HUMAN_STATES.includes(currentState) ? 0 : undefined);
      return true;
    }
    userRow.classList.add('failed');
    addSystemMessage(result.message);
    if (opts.fromInput) restoreInput(payload);
    return false;
  }

  function submitFromInput() {
    if (busy) return;
    const text = els.input.value.trim();
    if (!text) {
      els.input.value = '';
      return;
    }
    els.input.value = '';
    sendMessage(text, text, { fromInput: true });
  }

  function startNewConversation() {
    generation += 1;
    if (controller) {
      controller.abort();
      controller = null;
    }
    hideTyping();
    setBusy(false);
    forgetSender();
    clearMessages();
    resetState();
    poll.seen.clear();
    poll.buttonsUntil = 0;
    poll.fastUntil = 0;
    scrollToBottom();
    els.input.focus();
    ensureSession(); // a fresh id (and token) for the next conversation
    schedulePoll(POLL_SLOW_MS);
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    els = {
      messages: document.getElementById('messages'),
      hint: document.getElementById('chat-hint'),
      input: document.getElementById('chat-input'),
      send: document.getElementById('chat-send'),
      form: document.getElementById('chat-form'),
      stateBar: document.getElementById('state-bar'),
      stateText: document.getElementById('state-text'),
      stateCancel: document.getElementById('state-cancel'),
      newChat: document.getElementById('new-chat'),
      quick: document.getElementById('quick-replies'),
    };

    els.form.addEventListener('submit', (event) => {
      event.preventDefault();
      submitFromInput();
    });

    els.input.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      // Enter that confirms an IME candidate (拼音输入法) must not send.
      if (event.isComposing || event.keyCode === 229) return;
      event.preventDefault();
      submitFromInput();
    });

    els.quick.addEventListener('click', (event) => {
      const chip = event.target.closest('button.quick-chip');
      if (!chip || !els.quick.contains(chip)) return;
      const text = chip.dataset.text || chip.textContent.trim();
      sendMessage(text, text, { fromInput: false });
    });

    els.newChat.addEventListener('click', (event) => {
      event.preventDefault();
      startNewConversation();
    });
    els.newChat.addEventListener('keydown', (event) => {
      // role="button": Space activates it like a real button.
      if (event.key === ' ') {
        event.preventDefault();
        startNewConversation();
      }
    });

    els.messages.addEventListener('scroll', () => {
      const list = els.messages;
      stickToBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
    }, { passive: true });

    // Mobile keyboards resize the viewport; keep the latest message visible
    // unless the citizen has scrolled up on purpose.
    window.addEventListener('resize', () => {
      if (stickToBottom) scrollToBottom();
    });

    els.stateCancel.addEventListener('click', () => {
      sendMessage(TEXT_STOP_WAITING, TEXT_STOP_WAITING, { fromInput: false });
    });

    // Back to the tab: catch up at once instead of waiting for the next poll.
    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') schedulePoll(0);
    });

    // Create and persist the id up front, then see whether anything arrived meanwhile
    // (a reload while queued or talking to an agent).
    ensureSession().then(() => schedulePoll(0));
    setBusy(false);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
