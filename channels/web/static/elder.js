/*
 * 一事通 · 长辈版 — the elder page.
 *
 * Plain ES2020, no dependencies beyond citizen.js (window.YishiCitizen, loaded first), the
 * client it shares with the standard page (chat.js): a session from POST
 * /api/chat/session?channel=elder, POST /api/chat with mode "elder", GET /api/chat/updates while
 * a person serves. This file adds a big two-level category menu, A−/A+ type size, every answer
 * read aloud (speechSynthesis, zh-CN) with a toggle, and press-and-hold voice input
 * (MediaRecorder → POST /api/voice). Problems are told calmly inside the conversation, never in
 * a pop-up. API and citizen text is inserted with textContent only, never parsed as HTML.
 */
(() => {
  'use strict';

  const { storage } = YishiCitizen;
  const { make, asText, cleanButtons, hideTyping } = YishiCitizen.text;

  // Distinct storage keys from the standard page's: the two pages keep separate conversations.
  const CONFIG = YishiCitizen.settings({
    sessionUrl: '/api/chat/session?channel=elder',
    mode: 'elder',
    senderPrefix: 'elder:',
    storageKey: 'yishi.elder.sender',
    tokenKey: 'yishi.elder.token',
    afterKey: 'yishi.elder.updates.after',
    localId: () => YishiCitizen.randomHex(16),
    waitWords: '大约等',
    networkError: '网络好像不太好，请稍后再试一次，或者拨打12345。',
    genericError: '现在有点忙，请稍后再试一次，或者拨打12345。',
  });

  const VOICE_URL = '/api/voice';
  const FONT_KEY = 'yishi.elder.font';
  const SPEAK_KEY = 'yishi.elder.speak';

  const FONT_SIZES = [20, 22, 24, 26, 28, 30, 32];
  const FONT_DEFAULT = 20;
  const SPEECH_LANG = 'zh-CN';
  const SPEECH_RATE = 0.9;

  const VOICE_TIMEOUT_MS = 60000;
  const MIN_RECORD_MS = 500;
  const MAX_RECORD_MS = 30000;
  const AUDIO_BITS_PER_SECOND = 16000;
  const AUDIO_TYPES = ['audio/webm;codecs=opus', 'audio/ogg;codecs=opus', 'audio/webm', 'audio/mp4'];

  const TEXT_NOT_HEARD = '没听清，请再说一次，或者点下面的按钮';
  const TEXT_TOO_SHORT = '请按住“说话”按钮不要松开，说完再松开。';
  const TEXT_TYPING = '正在查找，请稍等…';
  const TEXT_LISTENING = '正在听，请说话……说完松开按钮';
  const TEXT_RECOGNISING = '正在识别，请稍等……';
  const TEXT_CANDIDATES = '您是想问下面哪一项？';
  const TEXT_STOP_WAITING = '不等了';
  const TEXT_HUMAN = '转人工';

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

  const citizen = YishiCitizen.session(CONFIG);

  // ---------------------------------------------------------------- type size

  let els = null;

  function currentFont() {
    const saved = Number(storage.get(FONT_KEY));
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
    storage.set(FONT_KEY, String(next));
    applyFont(next);
  }

  // ---------------------------------------------------------------- read aloud

  const speech = {
    supported: typeof window.speechSynthesis === 'object' && window.speechSynthesis !== null
      && typeof window.SpeechSynthesisUtterance === 'function',
    enabled: storage.get(SPEAK_KEY) !== 'off',
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
    storage.set(SPEAK_KEY, enabled ? 'on' : 'off');
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
    return YishiCitizen.text.appendRow(els.messages, row); // before the typing indicator
  }

  function addUserMessage(text) {
    const row = make('div', 'row row-user');
    row.appendChild(make('div', 'who', '我说'));
    row.appendChild(make('div', 'msg user', text));
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

  function buttonGroup(buttons, label) {
    return YishiCitizen.text.buttonGroup(buttons, label || '可以点的按钮', (payload, title) => {
      sendMessage(payload, title);
    });
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
    if (conversation.isHuman()) return; // a person answers, not the bot
    const row = YishiCitizen.text.typingRow();
    if (!row) return;
    row.appendChild(make('div', 'msg typing', TEXT_TYPING));
    els.messages.appendChild(row);
    scrollToBottom();
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

  // ---------------------------------------------------------------- state and updates

  const conversation = YishiCitizen.poller(CONFIG, citizen, {
    agentMessage: addAgentMessage,
    notice: addNotice,
    botReply: addBotReply,
    afterUpdates(first) {
      if (!first) return;
      if (!els.menu.hidden) closeMenu();
      scrollToRow(first);
    },
  });

  // ---------------------------------------------------------------- sending

  let busy = false;

  function setBusy(value) {
    busy = value;
    els.send.disabled = value;
    els.messages.setAttribute('aria-busy', value ? 'true' : 'false');
  }

  function renderAnswer(data, userRow) {
    conversation.setState(data.state, data.queue, data.agent);
    const emergency = Boolean(data.trace && data.trace.emergency);
    const replies = Array.isArray(data.replies) ? data.replies : [];
    let first = null;
    for (const reply of replies) {
      const row = addBotReply(reply, emergency);
      first = first || row;
    }
    if (first) scrollToRow(first);
    else if (conversation.state === 'agent') markDelivered(userRow, '已送达人工客服');
    else if (conversation.state === 'queued') markDelivered(userRow, '已送达，正在排队');
    conversation.answered();
  }

  function beforeSend() {
    stopSpeaking();
    if (!els.menu.hidden) closeMenu();
    conversation.beforeSend();
  }

  /** Send `text`, showing `display` as the citizen's own message. */
  async function sendMessage(text, display, opts = {}) {
    const payload = asText(text).slice(0, CONFIG.maxLen);
    if (busy || !payload.trim()) return false;
    beforeSend();
    setBusy(true);
    const userRow = addUserMessage(display || payload);
    showTyping();

    const result = await YishiCitizen.postChat(CONFIG, citizen, payload, new AbortController());
    hideTyping();
    setBusy(false);

    if (result.ok) {
      renderAnswer(result.data, userRow);
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

  async function postVoice(blob, type, signal) {
    const response = await citizen.request((sender) => {
      const form = new FormData();
      form.append('audio', blob, audioFileName(type));
      form.append('sender', sender);
      form.append('mode', CONFIG.mode);
      return fetch(VOICE_URL, {
        method: 'POST',
        // the browser sets the multipart boundary
        headers: citizen.authHeaders({ [YishiCitizen.CSRF_HEADER]: '1' }),
        credentials: 'same-origin',
        body: form,
        signal,
      });
    });
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

    YishiCitizen.onEnter(els.form, els.input, submitFromInput);

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

    openMenu(false);
    setBusy(false);
    conversation.start();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
