/*
 * 一事通 · 长辈版 — the elder page.
 *
 * Plain ES2020, no dependencies, same API as the standard page (chat.js): a session from
 * POST /api/chat/session?channel=elder, POST /api/chat with mode "elder", GET /api/chat/updates
 * while a person serves. On top of it: a big two-level category menu, A−/A+ type size, every
 * answer read aloud (speechSynthesis, zh-CN) with a toggle, and press-and-hold voice input
 * (MediaRecorder → POST /api/voice). Problems are told calmly inside the conversation, never in
 * a pop-up. API and citizen text is inserted with textContent only, never parsed as HTML.
 */
(() => {
  'use strict';

  const API_URL = '/api/chat';
  const SESSION_URL = '/api/chat/session?channel=elder';
  const UPDATES_URL = '/api/chat/updates';
  const VOICE_URL = '/api/voice';
  const TOKEN_HEADER = 'X-Yishi-Citizen-Token';
  const CSRF_HEADER = 'X-Yishi-CSRF';
  const MODE = 'elder';
  const SENDER_PREFIX = 'elder:';
  // Distinct from the standard page's keys: the two pages keep separate conversations.
  const STORAGE_KEY = 'yishi.elder.sender';
  const TOKEN_KEY = 'yishi.elder.token';
  const AFTER_KEY = 'yishi.elder.updates.after';
  const FONT_KEY = 'yishi.elder.font';
  const SPEAK_KEY = 'yishi.elder.speak';

  const FONT_SIZES = [20, 22, 24, 26, 28, 30, 32];
  const FONT_DEFAULT = 20;
  const SPEECH_LANG = 'zh-CN';
  const SPEECH_RATE = 0.9;

  const MAX_LEN = 500;
  const REQUEST_TIMEOUT_MS = 60000;
  const VOICE_TIMEOUT_MS = 60000;
  const SESSION_TIMEOUT_MS = 10000;
  const UPDATES_TIMEOUT_MS = 15000;
  const POLL_FAST_MS = 2000;
  const POLL_SLOW_MS = 20000;
  const POLL_ABSENT_MS = 60000;
  const FAST_AFTER_HUMAN_MS = 60000;
  const FAST_AFTER_SEND_MS = 15000;
  const FAST_WHILE_BUTTONS_MS = 10 * 60 * 1000;
  const MIN_RECORD_MS = 500;
  const MAX_RECORD_MS = 30000;
  const AUDIO_BITS_PER_SECOND = 16000;
  const AUDIO_TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'];

  const TEXT_NOT_HEARD = '没听清，请再说一次，或者点下面的按钮';
  const TEXT_TOO_SHORT = '请按住“说话”按钮不要松开，说完再松开。';
  const TEXT_NETWORK_ERROR = '网络好像不太好，请稍后再试一次，或者拨打12345。';
  const TEXT_GENERIC_ERROR = '现在有点忙，请稍后再试一次，或者拨打12345。';
  const TEXT_TYPING = '正在查找，请稍等…';
  const TEXT_LISTENING = '正在听，请说话……说完松开按钮';
  const TEXT_RECOGNISING = '正在识别，请稍等……';
  const TEXT_CANDIDATES = '您是想问下面哪一项？';
  const TEXT_STOP_WAITING = '不等了';
  const TEXT_HUMAN = '转人工';
  const HUMAN_STATES = ['queued', 'agent'];

  // The big menu: categories, each with common questions the assistant answers well.
  const MENU = [
    {
      title: '证件办理',
      questions: ['身份证丢了怎么办', '换身份证要带什么', '护照怎么办', '港澳通行证怎么办',
        '无犯罪记录证明怎么开'],
    },
    {
      title: '社保医保',
      questions: ['社保卡怎么补办', '养老金认证怎么办理', '异地就医备案怎么办',
        '医疗费用零星报销要带什么', '城乡居民医保怎么交', '失业金怎么领'],
    },
    {
      title: '公积金住房',
      questions: ['公积金租房提取怎么办', '退休了怎么提取公积金', '买房提取公积金要带什么',
        '公积金贷款怎么办', '二手房过户怎么办', '不动产权证书丢了怎么补'],
    },
    {
      title: '户籍婚育',
      questions: ['新生儿怎么上户口', '户口迁入怎么办', '结婚登记要带什么', '生育津贴怎么领',
        '居住证怎么办', '孩子上学怎么报名'],
    },
    {
      title: '养老助残',
      questions: ['高龄津贴怎么领', '养老金认证怎么办理', '城乡居民养老保险怎么参保',
        '残疾人证怎么办', '低保怎么申请'],
    },
    {
      title: '企业办事',
      questions: ['开公司怎么办理', '个体户营业执照怎么办', '发票怎么申领', '企业怎么简易注销',
        '个税汇算怎么办'],
    },
    {
      title: '交通出行',
      questions: ['交通违章怎么处理', '机动车年检怎么办', '车辆年检要带什么', '驾驶证到期怎么换'],
    },
    {
      title: '查办件进度',
      questions: ['查询办件进度', '办件进度怎么查', '受理编号忘了怎么办'],
    },
    {
      title: '投诉求助',
      questions: ['我要投诉', '我要求助', '我要提建议', '转人工'],
    },
  ];

  // ---------------------------------------------------------------- storage

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
      for (let i = 0; i < buf.length; i += 1) buf[i] = Math.floor(Math.random() * 256);
    }
    return Array.from(buf, (b) => b.toString(16).padStart(2, '0')).join('');
  }

  // ---------------------------------------------------------------- session

  let memorySender = null;
  let memoryToken = null;
  let sessionPromise = null;

  function storedSender() {
    let stored = storageGet(STORAGE_KEY);
    if (typeof stored === 'string') stored = stored.trim();
    if (stored && stored.startsWith(SENDER_PREFIX) && stored.length > SENDER_PREFIX.length) {
      return stored;
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

  /** The sender id (and token): a stored pair, else a new session, else a local id without one. */
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
      memorySender = stored || SENDER_PREFIX + randomHex(16);
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

  // ---------------------------------------------------------------- type size

  let els = null;

  function currentFont() {
    const saved = Number(storageGet(FONT_KEY));
    return FONT_SIZES.includes(saved) ? saved : FONT_DEFAULT;
  }

  function applyFont(size) {
    document.documentElement.dataset.font = String(size);
    if (els) {
      els.fontDown.disabled = size <= FONT_SIZES[0];
      els.fontUp.disabled = size >= FONT_SIZES[FONT_SIZES.length - 1];
    }
  }

  function stepFont(direction) {
    const index = FONT_SIZES.indexOf(currentFont());
    const next = FONT_SIZES[Math.min(FONT_SIZES.length - 1, Math.max(0, index + direction))];
    storageSet(FONT_KEY, String(next));
    applyFont(next);
  }

  // ---------------------------------------------------------------- read aloud

  const speech = {
    supported: typeof window.speechSynthesis === 'object' && window.speechSynthesis !== null
      && typeof window.SpeechSynthesisUtterance === 'function',
    enabled: storageGet(SPEAK_KEY) !== 'off',
  };

  /** What is worth hearing of an answer: no source line, no links, points said as 第1条. */
  function speakableChunks(text) {
    const chunks = [];
    for (const raw of asText(text).split(/\n+/)) {
      let line = raw.trim();
      if (!line) continue;
      if (/^来源[:：]/.test(line) || /^[（(]?依据《[^》]*》[^）)]*[）)]?$/.test(line)) continue;
      if (/^查看《/.test(line)) continue;
      line = line
        .replace(/https?:\/\/\S+/gi, '')
        .replace(/www\.[^\s，。；]+/gi, '')
        .replace(/[⚠★☆•·]/g, ' ')
        .replace(/\*+/g, '')
        .replace(/^(\d+)[.、]\s*/, '第$1条，')
        .replace(/\s+/g, ' ')
        .trim();
      if (!line || !/[\p{L}\p{N}]/u.test(line)) continue;
      // Long lines are cut at sentence ends: some engines stop speaking after ~15 seconds.
      for (const part of line.match(/[^。！？；]+[。！？；]*/g) || []) {
        if (part.trim()) chunks.push(part.trim());
      }
    }
    return chunks;
  }

  function chineseVoice() {
    try {
      const voices = window.speechSynthesis.getVoices() || [];
      return voices.find((v) => v.lang === SPEECH_LANG)
        || voices.find((v) => /^zh[-_]?(CN|Hans)/i.test(v.lang))
        || null;
    } catch (_) {
      return null;
    }
  }

  function speak(text) {
    if (!speech.supported || !speech.enabled) return;
    const chunks = speakableChunks(text);
    if (!chunks.length) return;
    const voice = chineseVoice();
    for (const chunk of chunks) {
      try {
        const utterance = new window.SpeechSynthesisUtterance(chunk);
        utterance.lang = SPEECH_LANG;
        utterance.rate = SPEECH_RATE;
        if (voice) utterance.voice = voice;
        window.speechSynthesis.speak(utterance);
      } catch (_) {
        return;
      }
    }
  }

  function stopSpeaking() {
    if (!speech.supported) return;
    try {
      window.speechSynthesis.cancel();
    } catch (_) {
      /* ignore */
    }
  }

  function setSpeaking(enabled) {
    speech.enabled = enabled;
    storageSet(SPEAK_KEY, enabled ? 'on' : 'off');
    if (!enabled) stopSpeaking();
    renderSpeakToggle();
  }

  function renderSpeakToggle() {
    els.speakToggle.setAttribute('aria-pressed', speech.enabled ? 'true' : 'false');
    els.speakToggle.textContent = speech.enabled ? '朗读：开' : '朗读：关';
    els.speakStop.hidden = !speech.supported;
    els.speakToggle.hidden = !speech.supported;
  }

  // ---------------------------------------------------------------- DOM helpers

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

  function scrollToBottom() {
    const box = els.chat;
    box.scrollTop = box.scrollHeight;
    window.requestAnimationFrame(() => {
      box.scrollTop = box.scrollHeight;
      if (box.scrollHeight <= box.clientHeight) {
        const last = els.messages.lastElementChild;
        if (last) last.scrollIntoView({ block: 'nearest' });
      }
    });
  }

  /** Bring the start of an answer into view: long answers are read from their first point. */
  function scrollToRow(row) {
    if (!row) return;
    const box = els.chat;
    window.requestAnimationFrame(() => {
      if (box.scrollHeight > box.clientHeight) {
        box.scrollTop = Math.max(0, row.offsetTop - 8);
      } else {
        row.scrollIntoView({ block: 'start' });
      }
    });
  }

  function appendRow(row) {
    const typing = document.getElementById('typing-indicator');
    if (typing && typing.parentNode === els.messages) {
      els.messages.insertBefore(row, typing);
    } else {
      els.messages.appendChild(row);
    }
    return row;
  }

  function addUserMessage(text) {
    const row = make('div', 'row row-user');
    row.appendChild(make('div', 'who', '我说'));
    row.appendChild(make('div', 'msg user', text));
    appendRow(row);
    scrollToBottom();
    return row;
  }

  function addSystemMessage(text) {
    const row = make('div', 'row row-system');
    row.appendChild(make('div', 'msg system', text));
    appendRow(row);
    scrollToBottom();
    return row;
  }

  /** A calm, inline notice (microphone, network): shown in the conversation and read aloud. */
  function addCalmNotice(text) {
    const row = make('div', 'row row-system row-calm');
    row.appendChild(make('div', 'msg calm', text));
    appendRow(row);
    scrollToBottom();
    speak(text);
    return row;
  }

  function cleanButtons(buttons) {
    return Array.isArray(buttons)
      ? buttons.filter((b) => b && typeof b === 'object' && (asText(b.title) || asText(b.payload)))
      : [];
  }

  function buttonGroup(buttons, label) {
    const group = make('div', 'reply-buttons');
    group.setAttribute('role', 'group');
    group.setAttribute('aria-label', label || '可以点的按钮');
    for (const b of buttons) {
      const title = asText(b.title) || asText(b.payload);
      const payload = asText(b.payload) || asText(b.title);
      const btn = make('button', 'reply-button', title);
      btn.type = 'button';
      btn.addEventListener('click', () => {
        sendMessage(payload, title);
      });
      group.appendChild(btn);
    }
    return group;
  }

  function addBotReply(reply, emergency) {
    if (!reply || typeof reply !== 'object') return null;
    const text = asText(reply.text);
    const buttons = cleanButtons(reply.buttons);
    if (!text.trim() && buttons.length === 0) return null;
    const row = make('div', 'row row-bot');
    row.appendChild(make('div', 'who', '一事通'));
    if (text.trim()) {
      const bubble = make('div', 'msg bot', text);
      if (emergency) bubble.dataset.emergency = 'true';
      row.appendChild(bubble);
    }
    if (buttons.length) row.appendChild(buttonGroup(buttons));
    appendRow(row);
    speak(text);
    return row;
  }

  function agentTitle(agent) {
    if (!agent || typeof agent !== 'object') return '人工客服';
    const name = asText(agent.display_name).trim();
    const number = asText(agent.employee_no).trim();
    let title = name ? `人工客服 ${name}` : '人工客服';
    if (number) title += `（工号${number}）`;
    return title;
  }

  function messageAgentTitle(message, fallback) {
    const name = asText(message.agent_name).trim();
    if (name) return name.startsWith('人工客服') ? name : `人工客服 ${name}`;
    if (message.agent && typeof message.agent === 'object') return agentTitle(message.agent);
    return agentTitle(fallback);
  }

  function addAgentMessage(text, title, buttons) {
    if (!text.trim() && !buttons.length) return null;
    const row = make('div', 'row row-agent');
    row.appendChild(make('div', 'who agent-name', title));
    if (text.trim()) row.appendChild(make('div', 'msg agent', text));
    if (buttons.length) row.appendChild(buttonGroup(buttons));
    appendRow(row);
    speak(text);
    return row;
  }

  function addNotice(text, buttons) {
    if (!text.trim() && !buttons.length) return null;
    const row = make('div', 'row row-system row-notice');
    if (text.trim()) row.appendChild(make('div', 'msg system notice', text));
    if (buttons.length) row.appendChild(buttonGroup(buttons));
    appendRow(row);
    speak(text);
    return row;
  }

  /** "您是想问下面哪一项？" with the recogniser's best guesses as big buttons. */
  function addCandidates(candidates) {
    const row = make('div', 'row row-bot row-candidates');
    row.appendChild(make('div', 'who', '一事通'));
    row.appendChild(make('div', 'msg bot', TEXT_CANDIDATES));
    row.appendChild(buttonGroup(candidates, TEXT_CANDIDATES));
    appendRow(row);
    speak([TEXT_CANDIDATES, ...candidates.map((c, i) => `第${i + 1}项，${c.title}。`)].join('\n'));
    return row;
  }

  function markDelivered(userRow, text) {
    if (!userRow || userRow.querySelector('.delivery')) return;
    userRow.appendChild(make('div', 'delivery', text));
  }

  function showTyping() {
    if (document.getElementById('typing-indicator')) return;
    if (HUMAN_STATES.includes(currentState)) return;
    const row = make('div', 'row row-bot row-typing');
    row.id = 'typing-indicator';
    row.appendChild(make('div', 'msg typing', TEXT_TYPING));
    els.messages.appendChild(row);
    scrollToBottom();
  }

  function hideTyping() {
    const typing = document.getElementById('typing-indicator');
    if (typing) typing.remove();
  }

  // ---------------------------------------------------------------- menu

  const menu = { category: null };

  function menuButton(label, onClick) {
    const btn = make('button', 'menu-item', label);
    btn.type = 'button';
    btn.addEventListener('click', onClick);
    return btn;
  }

  function renderMenu() {
    const items = els.menuItems;
    items.textContent = '';
    const category = menu.category === null ? null : MENU[menu.category];
    if (category) {
      els.menuTitle.textContent = `${category.title}：您想问哪一项？`;
      items.classList.add('questions');
      for (const question of category.questions) {
        items.appendChild(menuButton(question, () => chooseQuestion(question)));
      }
    } else {
      els.menuTitle.textContent = '请选择您要办的事';
      items.classList.remove('questions');
      MENU.forEach((entry, index) => {
        items.appendChild(menuButton(entry.title, () => {
          menu.category = index;
          renderMenu();
          els.menuTitle.focus({ preventScroll: true });
          els.chat.scrollTop = 0;
        }));
      });
    }
    els.menuBack.hidden = !category;
    els.menuClose.hidden = els.messages.childElementCount === 0;
    els.menuGreeting.hidden = Boolean(category) || els.messages.childElementCount > 0;
  }

  function openMenu(focus) {
    menu.category = null;
    els.menu.hidden = false;
    els.messages.hidden = true;
    renderMenu();
    els.chat.scrollTop = 0;
    if (focus) els.menuTitle.focus({ preventScroll: true });
  }

  function closeMenu() {
    els.menu.hidden = true;
    els.messages.hidden = false;
    scrollToBottom();
  }

  function chooseQuestion(question) {
    if (busy) return;
    closeMenu();
    els.talk.focus({ preventScroll: true });
    sendMessage(question, question);
  }

  // ---------------------------------------------------------------- state

  let currentState = null;
  let currentAgent = null;

  function queueText(queue) {
    let text = '正在为您转接人工客服';
    if (!queue || typeof queue !== 'object') return `${text}，请稍候`;
    const position = Number(queue.position);
    if (Number.isFinite(position) && position >= 1) {
      const ahead = Math.floor(position) - 1;
      text += ahead > 0 ? `，前面还有${ahead}位` : '，您是下一位';
    }
    const minutes = Number(queue.wait_minutes);
    if (queue.wait_minutes !== null && Number.isFinite(minutes) && minutes >= 0) {
      text += `，大约等${Math.max(1, Math.ceil(minutes))}分钟`;
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
      if (els.stateText.textContent !== text) els.stateText.textContent = text;
      els.stateCancel.hidden = state !== 'queued';
    } else {
      els.stateText.textContent = '';
      delete bar.dataset.state;
      bar.hidden = true;
      els.stateCancel.hidden = true;
    }

    if (previous !== state) {
      if (HUMAN_STATES.includes(previous) && !HUMAN_STATES.includes(state)) {
        poll.fastUntil = Date.now() + FAST_AFTER_HUMAN_MS;
      }
      if (HUMAN_STATES.includes(state)) poll.absent = false;
      schedulePoll();
    }
  }

  // ---------------------------------------------------------------- updates (polling)

  const poll = {
    timer: null,
    inFlight: false,
    fastUntil: 0,
    buttonsUntil: 0,
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
    poll.inFlight = true;
    const ctrl = new AbortController();
    const timer = window.setTimeout(() => ctrl.abort(), UPDATES_TIMEOUT_MS);
    try {
      const sender = await ensureSession();
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
      if (response.status === 404 || response.status === 405) {
        poll.absent = !HUMAN_STATES.includes(currentState);
        return;
      }
      if (response.status === 401 || response.status === 403) {
        forgetSender();
        await ensureSession();
        return;
      }
      if (!response.ok) return;
      poll.absent = false;
      applyUpdates(sender, await response.json());
    } catch (_) {
      /* offline or timed out: try again on schedule */
    } finally {
      window.clearTimeout(timer);
      poll.inFlight = false;
      if (!poll.timer) schedulePoll();
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
    if (last !== null) saveAfter(sender, last);
    if (first) {
      if (!els.menu.hidden) closeMenu();
      scrollToRow(first);
    }
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
      row = addBotReply({ text, buttons });
    }
    if (row && buttons.length) poll.buttonsUntil = Date.now() + FAST_WHILE_BUTTONS_MS;
    return row;
  }

  // ---------------------------------------------------------------- sending

  let busy = false;

  function setBusy(value) {
    busy = value;
    els.send.disabled = value;
    els.messages.setAttribute('aria-busy', value ? 'true' : 'false');
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
    if (response.ok && data && typeof data === 'object') return { ok: true, data };
    if ((response.status === 401 || response.status === 403) && !retried) {
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
    let first = null;
    for (const reply of replies) {
      const row = addBotReply(reply, emergency);
      first = first || row;
    }
    if (first) scrollToRow(first);
    else if (currentState === 'agent') markDelivered(userRow, '已送达人工客服');
    else if (currentState === 'queued') markDelivered(userRow, '已送达，正在排队');
  }

  function beforeSend() {
    stopSpeaking();
    if (!els.menu.hidden) closeMenu();
    if (Date.now() < poll.buttonsUntil || (currentState && currentState !== 'bot')) {
      poll.fastUntil = Date.now() + FAST_AFTER_SEND_MS;
    }
    poll.buttonsUntil = 0;
  }

  /** Send `text`, showing `display` as the citizen's own message. */
  async function sendMessage(text, display, opts = {}) {
    const payload = asText(text).slice(0, MAX_LEN);
    if (busy || !payload.trim()) return false;
    beforeSend();
    setBusy(true);
    const userRow = addUserMessage(display || payload);
    showTyping();

    const ctrl = new AbortController();
    const timer = window.setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
    let result;
    try {
      result = await postChat(payload, ctrl.signal);
    } catch (_) {
      result = { ok: false, message: TEXT_NETWORK_ERROR };
    } finally {
      window.clearTimeout(timer);
    }
    hideTyping();
    setBusy(false);

    if (result.ok) {
      renderAnswer(result.data, userRow);
      schedulePoll(HUMAN_STATES.includes(currentState) ? 0 : undefined);
      return true;
    }
    addCalmNotice(result.message);
    if (opts.fromInput && !els.input.value.trim()) els.input.value = payload;
    return false;
  }

  function submitFromInput() {
    if (busy) return;
    const text = els.input.value.trim();
    els.input.value = '';
    if (text) sendMessage(text, text, { fromInput: true });
  }

  // ---------------------------------------------------------------- voice

  const voice = {
    state: 'idle', // idle | starting | recording | stopping | sending
    releaseRequested: false,
    recorder: null,
    stream: null,
    chunks: [],
    startedAt: 0,
    maxTimer: null,
    ignoreClickUntil: 0,
  };

  function voiceSupported() {
    return Boolean(navigator.mediaDevices)
      && typeof navigator.mediaDevices.getUserMedia === 'function'
      && typeof window.MediaRecorder === 'function';
  }

  function audioType() {
    const recorder = window.MediaRecorder;
    if (typeof recorder.isTypeSupported !== 'function') return '';
    return AUDIO_TYPES.find((type) => {
      try {
        return recorder.isTypeSupported(type);
      } catch (_) {
        return false;
      }
    }) || '';
  }

  function stopTracks(stream) {
    if (!stream || typeof stream.getTracks !== 'function') return;
    for (const track of stream.getTracks()) {
      try {
        track.stop();
      } catch (_) {
        /* ignore */
      }
    }
  }

  function setTalk(state) {
    const talk = els.talk;
    talk.dataset.recording = state === 'recording' ? 'true' : 'false';
    talk.dataset.busy = state === 'busy' ? 'true' : 'false';
    if (state === 'recording') {
      talk.textContent = '松开 发送';
      els.voiceStatus.textContent = TEXT_LISTENING;
    } else if (state === 'busy') {
      talk.textContent = '正在识别…';
      els.voiceStatus.textContent = TEXT_RECOGNISING;
    } else {
      talk.textContent = '按住 说话';
      els.voiceStatus.textContent = '';
    }
  }

  function resetVoice() {
    window.clearTimeout(voice.maxTimer);
    voice.state = 'idle';
    voice.recorder = null;
    voice.stream = null;
    voice.chunks = [];
    setTalk('idle');
  }

  async function startRecording() {
    if (voice.state !== 'idle' || busy) return;
    stopSpeaking();
    if (!voiceSupported()) {
      addCalmNotice(TEXT_NOT_HEARD);
      return;
    }
    voice.state = 'starting';
    voice.releaseRequested = false;
    setTalk('recording');
    let stream = null;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch (_) {
      resetVoice();
      addCalmNotice(TEXT_NOT_HEARD);
      return;
    }
    if (voice.releaseRequested) {
      // Let go before the microphone was ready (or while the browser asked for permission).
      stopTracks(stream);
      resetVoice();
      addCalmNotice(TEXT_TOO_SHORT);
      return;
    }
    let recorder = null;
    try {
      const type = audioType();
      const options = { audioBitsPerSecond: AUDIO_BITS_PER_SECOND };
      if (type) options.mimeType = type;
      recorder = new window.MediaRecorder(stream, options);
    } catch (_) {
      stopTracks(stream);
      resetVoice();
      addCalmNotice(TEXT_NOT_HEARD);
      return;
    }
    voice.recorder = recorder;
    voice.stream = stream;
    voice.chunks = [];
    recorder.ondataavailable = (event) => {
      if (event && event.data && event.data.size) voice.chunks.push(event.data);
    };
    recorder.onstop = () => {
      finishRecording(recorder, stream);
    };
    recorder.onerror = () => {
      stopTracks(stream);
      resetVoice();
      addCalmNotice(TEXT_NOT_HEARD);
    };
    try {
      recorder.start();
    } catch (_) {
      stopTracks(stream);
      resetVoice();
      addCalmNotice(TEXT_NOT_HEARD);
      return;
    }
    voice.startedAt = Date.now();
    voice.state = 'recording';
    voice.maxTimer = window.setTimeout(stopRecording, MAX_RECORD_MS);
  }

  function stopRecording() {
    if (voice.state === 'starting') {
      voice.releaseRequested = true;
      return;
    }
    if (voice.state !== 'recording') return;
    window.clearTimeout(voice.maxTimer);
    voice.state = 'stopping';
    try {
      voice.recorder.stop();
    } catch (_) {
      stopTracks(voice.stream);
      resetVoice();
      addCalmNotice(TEXT_NOT_HEARD);
    }
  }

  async function finishRecording(recorder, stream) {
    stopTracks(stream);
    if (voice.state !== 'stopping') return;
    const duration = Date.now() - voice.startedAt;
    const type = asText(recorder.mimeType) || (voice.chunks[0] && voice.chunks[0].type)
      || 'audio/webm';
    const blob = new Blob(voice.chunks, { type });
    voice.chunks = [];
    if (duration < MIN_RECORD_MS || blob.size === 0) {
      resetVoice();
      addCalmNotice(TEXT_TOO_SHORT);
      return;
    }
    voice.state = 'sending';
    setTalk('busy');
    try {
      await sendVoice(blob, type);
    } finally {
      resetVoice();
    }
  }

  function audioFileName(type) {
    if (/ogg/i.test(type)) return 'voice.ogg';
    if (/mp4|aac|m4a/i.test(type)) return 'voice.m4a';
    return 'voice.webm';
  }

  async function postVoice(blob, type, signal, retried = false) {
    const sender = await ensureSession();
    const form = new FormData();
    form.append('audio', blob, audioFileName(type));
    form.append('sender', sender);
    form.append('mode', MODE);
    const response = await fetch(VOICE_URL, {
      method: 'POST',
      headers: authHeaders({ [CSRF_HEADER]: '1' }), // the browser sets the multipart boundary
      credentials: 'same-origin',
      body: form,
      signal,
    });
    if ((response.status === 401 || response.status === 403) && !retried) {
      forgetSender();
      await ensureSession();
      if (memoryToken) return postVoice(blob, type, signal, true);
    }
    if (!response.ok) return null;
    const data = await response.json();
    return data && typeof data === 'object' ? data : null;
  }

  function cleanCandidates(candidates) {
    if (!Array.isArray(candidates)) return [];
    return candidates
      .filter((c) => c && typeof c === 'object' && (asText(c.payload) || asText(c.title)))
      .slice(0, 3)
      .map((c) => ({
        title: asText(c.title) || asText(c.payload),
        payload: asText(c.payload) || asText(c.title),
      }));
  }

  async function sendVoice(blob, type) {
    if (busy) return;
    beforeSend();
    setBusy(true);
    showTyping();
    const ctrl = new AbortController();
    const timer = window.setTimeout(() => ctrl.abort(), VOICE_TIMEOUT_MS);
    let data = null;
    try {
      data = await postVoice(blob, type, ctrl.signal);
    } catch (_) {
      data = null;
    } finally {
      window.clearTimeout(timer);
    }
    hideTyping();
    setBusy(false);
    if (!data) {
      addCalmNotice(TEXT_NOT_HEARD);
      return;
    }
    const transcript = asText(data.transcript).trim();
    const userRow = transcript ? addUserMessage(transcript) : null;
    if (data.chat && typeof data.chat === 'object') {
      renderAnswer(data.chat, userRow);
      schedulePoll(HUMAN_STATES.includes(currentState) ? 0 : undefined);
      return;
    }
    const candidates = cleanCandidates(data.candidates);
    if (candidates.length) {
      scrollToRow(addCandidates(candidates));
      return;
    }
    addCalmNotice(TEXT_NOT_HEARD);
  }

  function isTalkKey(event) {
    return event.key === ' ' || event.key === 'Spacebar' || event.key === 'Enter';
  }

  function wireTalk() {
    const talk = els.talk;
    talk.addEventListener('pointerdown', (event) => {
      if (event.pointerType === 'mouse' && event.button !== 0) return;
      event.preventDefault(); // no text selection or long-press menu while holding
      voice.ignoreClickUntil = Date.now() + 60 * 60 * 1000;
      try {
        talk.setPointerCapture(event.pointerId);
      } catch (_) {
        /* ignore */
      }
      talk.focus({ preventScroll: true });
      startRecording();
    });
    const release = () => {
      if (voice.ignoreClickUntil > Date.now() + 1000) voice.ignoreClickUntil = Date.now() + 800;
      stopRecording();
    };
    talk.addEventListener('pointerup', release);
    talk.addEventListener('pointercancel', release);
    talk.addEventListener('lostpointercapture', release);
    talk.addEventListener('contextmenu', (event) => event.preventDefault());

    talk.addEventListener('keydown', (event) => {
      if (!isTalkKey(event)) return;
      event.preventDefault();
      if (event.repeat) return;
      voice.ignoreClickUntil = Date.now() + 60 * 60 * 1000;
      startRecording();
    });
    talk.addEventListener('keyup', (event) => {
      if (!isTalkKey(event)) return;
      event.preventDefault();
      voice.ignoreClickUntil = Date.now() + 800;
      stopRecording();
    });

    // Screen readers and switch access send a bare click: the first starts, the next sends.
    talk.addEventListener('click', (event) => {
      if (Date.now() < voice.ignoreClickUntil) return;
      event.preventDefault();
      if (voice.state === 'idle') startRecording();
      else stopRecording();
    });

    // Leaving the page (another app, another tab) ends the recording.
    window.addEventListener('blur', () => {
      if (voice.state === 'recording' || voice.state === 'starting') stopRecording();
    });
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    els = {
      chat: document.getElementById('chat'),
      messages: document.getElementById('messages'),
      menu: document.getElementById('menu'),
      menuGreeting: document.getElementById('menu-greeting'),
      menuTitle: document.getElementById('menu-title'),
      menuItems: document.getElementById('menu-items'),
      menuBack: document.getElementById('menu-back'),
      menuClose: document.getElementById('menu-close'),
      menuOpen: document.getElementById('menu-open'),
      input: document.getElementById('chat-input'),
      send: document.getElementById('chat-send'),
      form: document.getElementById('chat-form'),
      stateBar: document.getElementById('state-bar'),
      stateText: document.getElementById('state-text'),
      stateCancel: document.getElementById('state-cancel'),
      toHuman: document.getElementById('to-human'),
      fontDown: document.getElementById('font-down'),
      fontUp: document.getElementById('font-up'),
      speakToggle: document.getElementById('speak-toggle'),
      speakStop: document.getElementById('speak-stop'),
      talk: document.getElementById('talk'),
      voiceStatus: document.getElementById('voice-status'),
    };

    applyFont(currentFont());
    els.fontDown.addEventListener('click', () => stepFont(-1));
    els.fontUp.addEventListener('click', () => stepFont(1));

    renderSpeakToggle();
    els.speakToggle.addEventListener('click', () => setSpeaking(!speech.enabled));
    els.speakStop.addEventListener('click', stopSpeaking);

    els.form.addEventListener('submit', (event) => {
      event.preventDefault();
      submitFromInput();
    });
    els.input.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      if (event.isComposing || event.keyCode === 229) return; // IME candidate, not a send
      event.preventDefault();
      submitFromInput();
    });

    els.toHuman.addEventListener('click', () => sendMessage(TEXT_HUMAN, TEXT_HUMAN));
    els.stateCancel.addEventListener('click', () => sendMessage(TEXT_STOP_WAITING, TEXT_STOP_WAITING));

    els.menuOpen.addEventListener('click', () => openMenu(true));
    els.menuBack.addEventListener('click', () => {
      menu.category = null;
      renderMenu();
      els.menuTitle.focus({ preventScroll: true });
    });
    els.menuClose.addEventListener('click', () => {
      closeMenu();
      els.talk.focus({ preventScroll: true });
    });

    wireTalk();

    document.addEventListener('visibilitychange', () => {
      if (document.visibilityState === 'visible') schedulePoll(0);
    });

    openMenu(false);
    setBusy(false);
    ensureSession().then(() => schedulePoll(0));
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
