/*
 * 一事通 · the citizen pages' shared client: the standard web chat (chat.js) and the 长辈版
 * (elder.js) load this first and keep only what is their own (rendering, menu, speech, voice,
 * wiring).
 *
 * Plain ES2020, no dependencies. Defines window.YishiCitizen:
 *   settings(page)                 the shared defaults below with a page's own values
 *   CSRF_HEADER, HUMAN_STATES
 *   storage.get/set/remove         localStorage that never throws (private mode, disabled)
 *   randomHex(bytes), newId()
 *   session(config)                sender id and token from POST /api/chat/session (a local id
 *                                  without a token when that is unavailable), the last update seen
 *   postChat(config, session, text, controller)   POST /api/chat with a timeout and one retry
 *                                  on a fresh session after 401/403
 *   poller(config, session, hooks) the conversation state (bot/queued/agent/closed), the state
 *                                  bar, and GET /api/chat/updates polled as fast as it needs
 *   text.*                         DOM and wording helpers (textContent only), the typing row
 *   onEnter(form, input, submit)   send on submit and on Enter, not on an IME's Enter
 * Every piece of text that comes from the API or the citizen is inserted with textContent; no
 * API or citizen text is ever parsed as HTML.
 */
(() => {
  'use strict';

  const TOKEN_HEADER = 'X-Yishi-Citizen-Token';
  const CSRF_HEADER = 'X-Yishi-CSRF';
  const HUMAN_STATES = ['queued', 'agent'];

  // What both pages share. Each page adds its own: sessionUrl, mode, senderPrefix, storageKey,
  // tokenKey, afterKey (the two pages keep separate conversations), waitWords ("预计等待约",
  // "大约等": "…，预计等待约3分钟" in the state bar), networkError and genericError.
  const DEFAULTS = Object.freeze({
    apiUrl: '/api/chat',
    updatesUrl: '/api/chat/updates',
    migrateBareId: false, // a stored id without "<channel>:" gets the prefix
    localId: null, // () => id for the fallback sender; newId() when null
    maxLen: 500,
    requestTimeoutMs: 60000,
    sessionTimeoutMs: 10000,
    updatesTimeoutMs: 15000,
    pollFastMs: 2000, // queued, with an agent, or a rating pending
    pollSlowMs: 20000,
    pollAbsentMs: 60000, // the server has no updates endpoint
    fastAfterHumanMs: 60000, // keep polling fast this long after leaving the agent
    fastAfterSendMs: 15000,
    fastWhileButtonsMs: 10 * 60 * 1000, // a rating request waits this long at most
  });

  function settings(overrides) {
    return { ...DEFAULTS, ...overrides };
  }

  // ---------------------------------------------------------------- storage

  const storage = {
    get(key) {
      try {
        return window.localStorage.getItem(key);
      } catch (_) {
        return null;
      }
    },
    set(key, value) {
      try {
        window.localStorage.setItem(key, value);
      } catch (_) {
        /* private mode or storage disabled: keep it in memory only */
      }
    },
    remove(key) {
      try {
        window.localStorage.removeItem(key);
      } catch (_) {
        /* ignore */
      }
    },
  };

  function randomHex(bytes) {
    const buf = new Uint8Array(bytes);
    if (window.crypto && typeof window.crypto.getRandomValues === 'function') {
      window.crypto.getRandomValues(buf);
    } else {
      for (let i = 0; i < buf.length; i += 1) buf[i] = Math.floor(Math.random() * 256);
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

  // ---------------------------------------------------------------- session

  /**
   * One page's sender id and token. config: sessionUrl, storageKey, tokenKey, afterKey,
   * senderPrefix, migrateBareId, localId, sessionTimeoutMs.
   */
  function session(config) {
    const c = settings(config);
    const localId = typeof c.localId === 'function' ? c.localId : newId;
    let memorySender = null; // used when localStorage is unavailable
    let memoryToken = null; // X-Yishi-Citizen-Token; null when the session came from the fallback
    let sessionPromise = null;

    /** The sender id kept from an earlier visit, or null. */
    function storedSender() {
      let stored = storage.get(c.storageKey);
      if (typeof stored === 'string') stored = stored.trim();
      if (stored && stored.startsWith(c.senderPrefix) && stored.length > c.senderPrefix.length) {
        return stored;
      }
      if (c.migrateBareId && stored && !stored.includes(':')) {
        const fixed = c.senderPrefix + stored; // bare id: add the channel prefix
        storage.set(c.storageKey, fixed);
        return fixed;
      }
      return null;
    }

    async function createSession() {
      const ctrl = new AbortController();
      const timer = window.setTimeout(() => ctrl.abort(), c.sessionTimeoutMs);
      try {
        const response = await fetch(c.sessionUrl, {
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
     * the fallback (the stored id, or a locally made one) without a token.
     */
    function ensureSession() {
      if (memorySender) return Promise.resolve(memorySender);
      if (sessionPromise) return sessionPromise;
      const promise = (async () => {
        const stored = storedSender();
        const token = storage.get(c.tokenKey);
        if (stored && token) {
          memoryToken = token;
        } else {
          const created = await createSession();
          // forgotten meanwhile (新对话, or a 401): the newer session is the one that counts
          if (sessionPromise !== promise) return ensureSession();
          if (created) {
            memorySender = created.sender;
            memoryToken = created.token;
            storage.set(c.storageKey, created.sender);
            storage.set(c.tokenKey, created.token);
            storage.remove(c.afterKey);
            return memorySender;
          }
          memoryToken = null;
        }
        memorySender = stored || c.senderPrefix + localId();
        storage.set(c.storageKey, memorySender);
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
      storage.remove(c.storageKey);
      storage.remove(c.tokenKey);
      storage.remove(c.afterKey);
    }

    function authHeaders(extra) {
      const headers = { Accept: 'application/json', ...extra };
      if (memoryToken) headers[TOKEN_HEADER] = memoryToken;
      return headers;
    }

    function hasToken() {
      return Boolean(memoryToken);
    }

    /**
     * send(sender) makes one request and returns its Response. On 401/403 (no token, or one
     * that is not this sender's) a new session is started and, when it has a token, the
     * request is made once more. The last Response is returned, its body unread.
     */
    async function request(send) {
      const response = await send(await ensureSession());
      if (response.status !== 401 && response.status !== 403) return response;
      forgetSender();
      await ensureSession();
      return memoryToken ? send(await ensureSession()) : response;
    }

    // The id of the last update shown, per sender, so a reload does not repeat messages.
    function loadAfter(sender) {
      try {
        const saved = JSON.parse(storage.get(c.afterKey) || 'null');
        return saved && saved.sender === sender ? saved.after : null;
      } catch (_) {
        return null;
      }
    }

    function saveAfter(sender, after) {
      storage.set(c.afterKey, JSON.stringify({ sender, after }));
    }

    return { ensureSession, forgetSender, authHeaders, hasToken, request, loadAfter, saveAfter };
  }

  // ---------------------------------------------------------------- chat

  /**
   * POST `text` to the chat API; `controller` (an AbortController) is aborted after
   * config.requestTimeoutMs, or by the page. Resolves to {ok: true, data} or {ok: false,
   * message}, the message being the API's `detail` or the page's own wording.
   */
  async function postChat(config, citizen, text, controller) {
    const c = settings(config);
    const timer = window.setTimeout(() => controller.abort(), c.requestTimeoutMs);
    try {
      const response = await citizen.request((sender) => fetch(c.apiUrl, {
        method: 'POST',
        headers: citizen.authHeaders({ 'Content-Type': 'application/json', [CSRF_HEADER]: '1' }),
        credentials: 'same-origin',
        body: JSON.stringify({ sender, text, mode: c.mode }),
        signal: controller.signal,
      }));
      let data = null;
      try {
        data = await response.json();
      } catch (_) {
        data = null;
      }
      if (response.ok && data && typeof data === 'object') return { ok: true, data };
      const detail = data && typeof data.detail === 'string' ? data.detail.trim() : '';
      return { ok: false, message: detail || c.genericError };
    } catch (_) {
      return { ok: false, message: c.networkError };
    } finally {
      window.clearTimeout(timer);
    }
  }

  // ---------------------------------------------------------------- text and DOM helpers

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

  function cleanButtons(buttons) {
    return Array.isArray(buttons)
      ? buttons.filter((b) => b && typeof b === 'object' && (asText(b.title) || asText(b.payload)))
      : [];
  }

  /** A group of reply buttons; a click calls choose(payload, title). */
  function buttonGroup(buttons, label, choose) {
    const group = make('div', 'reply-buttons');
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', label);
    for (const b of buttons) {
      const title = asText(b.title) || asText(b.payload);
      const payload = asText(b.payload) || asText(b.title);
      const btn = make('button', 'reply-button', title);
      btn.type = 'button';
      btn.addEventListener('click', () => {
        choose(payload, title);
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

  /** The state bar while queued; waitWords leads the minutes ("预计等待约", "大约等"). */
  function queueText(queue, waitWords) {
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
      text += `，${waitWords}${Math.max(1, Math.ceil(minutes))}分钟`;
    }
    return text;
  }

  // The typing indicator ("正在输入…") is one row with this id at the end of the message list.
  const TYPING_ID = 'typing-indicator';

  /** Add a row to the message list; the typing indicator, when shown, always stays last. */
  function appendRow(list, row) {
    const typing = document.getElementById(TYPING_ID);
    if (typing && typing.parentNode === list) {
      list.insertBefore(row, typing);
    } else {
      list.appendChild(row);
    }
    return row;
  }

  /** An empty typing-indicator row for the page to fill, or null when one is shown already. */
  function typingRow() {
    if (document.getElementById(TYPING_ID)) return null;
    const row = make('div', 'row row-bot row-typing');
    row.id = TYPING_ID;
    return row;
  }

  function hideTyping() {
    const typing = document.getElementById(TYPING_ID);
    if (typing) typing.remove();
  }

  function onEnter(form, input, submit) {
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      submit();
    });
    input.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      // Enter that confirms an IME candidate (拼音输入法) must not send.
      if (event.isComposing || event.keyCode === 229) return;
      event.preventDefault();
      submit();
    });
  }

  // ---------------------------------------------------------------- state and updates

  /**
   * The conversation state as the server last said it, shown in the state bar, and the
   * updates poll (messages that arrive on their own: human agents, notices, rating).
   *
   * The state bar is #state-bar with #state-text and #state-cancel (the 不等了 button, which
   * the page wires), the same on both pages.
   *
   * hooks:
   *   agentMessage(text, title, buttons), notice(text, buttons), botReply(reply)
   *                                   render one update; each returns its row or null
   *   afterUpdates(firstRow)          optional: after a batch of updates, the first row shown
   *   generation()                    optional: a number the page bumps to drop late answers
   *                                   of an old conversation (新对话)
   */
  function poller(config, citizen, hooks) {
    const c = settings(config);
    const generation = hooks.generation || (() => 0);
    let currentState = null; // "bot" | "queued" | "agent" | "closed"
    let currentAgent = null; // {display_name, employee_no} while an agent serves
    const poll = {
      timer: null,
      inFlight: false,
      fastUntil: 0,
      buttonsUntil: 0, // a rating or other pushed question with buttons awaits an answer
      absent: false,
      seen: new Set(),
    };

    const isHuman = () => HUMAN_STATES.includes(currentState);

    function stateBar() {
      return {
        bar: document.getElementById('state-bar'),
        text: document.getElementById('state-text'),
        cancel: document.getElementById('state-cancel'),
      };
    }

    function setState(state, queue, agent) {
      if (typeof state !== 'string' || !state) return;
      const previous = currentState;
      currentState = state;
      document.body.dataset.state = state;
      if (agent && typeof agent === 'object') currentAgent = agent;
      else if (state !== 'agent') currentAgent = null;

      let text = '';
      if (state === 'queued') text = queueText(queue, c.waitWords);
      else if (state === 'agent') text = `${agentTitle(currentAgent)}正在为您服务`;

      const els = stateBar();
      if (text) {
        els.bar.dataset.state = state;
        els.bar.hidden = false;
        // Only real changes, so screen readers are not told the same thing every poll.
        if (els.text.textContent !== text) els.text.textContent = text;
        els.cancel.hidden = state !== 'queued';
      } else {
        hideStateBar(els);
      }

      if (previous !== state) {
        if (HUMAN_STATES.includes(previous) && !HUMAN_STATES.includes(state)) {
          poll.fastUntil = Date.now() + c.fastAfterHumanMs; // notices and rating follow
        }
        if (HUMAN_STATES.includes(state)) poll.absent = false;
        schedule();
      }
    }

    function hideStateBar(els) {
      els.text.textContent = '';
      delete els.bar.dataset.state;
      els.bar.hidden = true;
      els.cancel.hidden = true;
    }

    /** A new conversation: no state, nothing seen, no fast polling. */
    function reset() {
      currentState = null;
      currentAgent = null;
      delete document.body.dataset.state;
      hideStateBar(stateBar());
      poll.seen.clear();
      poll.buttonsUntil = 0;
      poll.fastUntil = 0;
    }

    /** The citizen sends something: answers may come as updates, pushed buttons are answered. */
    function beforeSend() {
      if (Date.now() < poll.buttonsUntil || (currentState && currentState !== 'bot')) {
        poll.fastUntil = Date.now() + c.fastAfterSendMs;
      }
      poll.buttonsUntil = 0;
    }

    function pollDelay() {
      if (isHuman()) return c.pollFastMs;
      if (Date.now() < Math.max(poll.fastUntil, poll.buttonsUntil)) return c.pollFastMs;
      return poll.absent ? c.pollAbsentMs : c.pollSlowMs;
    }

    /** After an answer: poll at once when a person serves, else on schedule. */
    function answered() {
      schedule(isHuman() ? 0 : undefined);
    }

    /** Poll after `delay` ms; without one, as soon as the state asks for. */
    function schedule(delay) {
      window.clearTimeout(poll.timer);
      poll.timer = window.setTimeout(pollUpdates, delay === undefined ? pollDelay() : delay);
    }

    async function pollUpdates() {
      poll.timer = null;
      if (poll.inFlight) {
        schedule(500);
        return;
      }
      const myGeneration = generation();
      poll.inFlight = true;
      const ctrl = new AbortController();
      const timer = window.setTimeout(() => ctrl.abort(), c.updatesTimeoutMs);
      try {
        const sender = await citizen.ensureSession();
        if (myGeneration !== generation()) return;
        const after = citizen.loadAfter(sender);
        let url = `${c.updatesUrl}?sender=${encodeURIComponent(sender)}`;
        if (after !== null && after !== undefined && after !== '') {
          url += `&after=${encodeURIComponent(after)}`;
        }
        const response = await fetch(url, {
          method: 'GET',
          headers: citizen.authHeaders(),
          credentials: 'same-origin',
          cache: 'no-store',
          signal: ctrl.signal,
        });
        if (myGeneration !== generation()) return;
        if (response.status === 404 || response.status === 405) {
          poll.absent = !isHuman();
          return;
        }
        if (response.status === 401 || response.status === 403) {
          // No token, or one that is not this sender's: start a proper session. The next
          // message goes to the new conversation (the old one cannot be read anyway).
          citizen.forgetSender();
          await citizen.ensureSession();
          return;
        }
        if (!response.ok) return;
        poll.absent = false;
        const data = await response.json();
        if (myGeneration !== generation()) return;
        applyUpdates(sender, data);
      } catch (_) {
        /* offline or timed out: try again on schedule */
      } finally {
        window.clearTimeout(timer);
        poll.inFlight = false;
        if (myGeneration === generation() && !poll.timer) schedule();
      }
    }

    function applyUpdates(sender, data) {
      if (!data || typeof data !== 'object') return;
      setState(data.state, data.queue, data.agent);
      const messages = Array.isArray(data.messages) ? data.messages : [];
      let last = null;
      let first = null;
      for (const message of messages) {
        if (!message || typeof message !== 'object') continue;
        if (message.id !== undefined && message.id !== null) {
          const key = String(message.id);
          last = message.id;
          if (poll.seen.has(key)) continue;
          poll.seen.add(key);
        }
        const row = renderUpdate(message, data.agent);
        first = first || row;
      }
      if (last !== null) citizen.saveAfter(sender, last);
      if (hooks.afterUpdates) hooks.afterUpdates(first);
    }

    function renderUpdate(message, agent) {
      const text = asText(message.text);
      const buttons = cleanButtons(message.buttons);
      let row = null;
      if (message.author === 'agent') {
        row = hooks.agentMessage(text, messageAgentTitle(message, agent || currentAgent), buttons);
      } else if (message.author === 'system') {
        row = hooks.notice(text, buttons);
      } else if (message.author === 'bot') {
        row = hooks.botReply({ text, buttons, source: message.source });
      }
      if (row && buttons.length) poll.buttonsUntil = Date.now() + c.fastWhileButtonsMs;
      return row;
    }

    /** Poll once the session is known (a reload while queued or with an agent), and on return. */
    function start() {
      document.addEventListener('visibilitychange', () => {
        // Back to the tab: catch up at once instead of waiting for the next poll.
        if (document.visibilityState === 'visible') schedule(0);
      });
      citizen.ensureSession().then(() => schedule(0));
    }

    return {
      get state() {
        return currentState;
      },
      get agent() {
        return currentAgent;
      },
      isHuman,
      setState,
      reset,
      beforeSend,
      answered,
      schedule,
      start,
    };
  }

  window.YishiCitizen = Object.freeze({
    CSRF_HEADER,
    HUMAN_STATES,
    settings,
    storage,
    randomHex,
    newId,
    session,
    postChat,
    poller,
    onEnter,
    text: Object.freeze({
      make,
      asText,
      cleanButtons,
      buttonGroup,
      agentTitle,
      messageAgentTitle,
      queueText,
      appendRow,
      typingRow,
      hideTyping,
    }),
  });
})();
