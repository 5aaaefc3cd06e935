/*
 * 一事通 · 示例市政务服务助手 — citizen web chat.
 *
 * Plain ES2020, no dependencies beyond citizen.js (window.YishiCitizen, loaded first), which
 * holds the session (POST /api/chat/session, a locally made id when that is unavailable), POST
 * /api/chat and the GET /api/chat/updates poll for messages that arrive on their own (human
 * agents, notices, rating). This file keeps the page: its rows, 新对话 and the wiring.
 * Every piece of text that comes from the API or the citizen is inserted with
 * textContent; no API or citizen text is ever parsed as HTML.
 */
(() => {
  'use strict';

  const { make, asText, cleanButtons, hideTyping } = YishiCitizen.text;

  const CONFIG = YishiCitizen.settings({
    sessionUrl: '/api/chat/session',
    mode: 'standard',
    senderPrefix: 'web:',
    storageKey: 'yishi.sender',
    tokenKey: 'yishi.token',
    afterKey: 'yishi.updates.after',
    migrateBareId: true, // a bare stored id (from before the channel prefix) gets "web:"
    waitWords: '预计等待约',
    networkError: '网络连接失败，请检查网络后重试。',
    genericError: '服务暂时不可用，请稍后再试。',
  });

  const TEXT_TYPING = '正在输入…';
  const TEXT_STOP_WAITING = '不等了';

  const citizen = YishiCitizen.session(CONFIG);

  // ---------------------------------------------------------------- DOM helpers

  let els = null;

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
    YishiCitizen.text.appendRow(els.messages, row); // before the typing indicator, if shown
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

  function buttonGroup(buttons) {
    return YishiCitizen.text.buttonGroup(buttons, '可选操作', (payload, title) => {
      sendMessage(payload, title, { fromInput: false });
    });
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
    if (conversation.isHuman()) return; // a person answers, not the bot
    const row = YishiCitizen.text.typingRow();
    if (!row) return;
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

  function clearMessages() {
    const list = els.messages;
    for (const child of Array.from(list.children)) {
      if (child !== els.hint) child.remove();
    }
  }

  // ---------------------------------------------------------------- state and updates

  let generation = 0; // bumped by 新对话 so late answers of the old chat are dropped

  const conversation = YishiCitizen.poller(CONFIG, citizen, {
    agentMessage: addAgentMessage,
    notice: addNotice,
    botReply: addBotReply,
    generation: () => generation,
  });

  // ---------------------------------------------------------------- sending

  let busy = false;
  let controller = null;

  function setBusy(value) {
    busy = value;
    els.send.disabled = value;
    els.messages.setAttribute('aria-busy', value ? 'true' : 'false');
  }

  function restoreInput(text) {
    const current = els.input.value;
    els.input.value = current.trim() ? `${text} ${current}`.slice(0, CONFIG.maxLen) : text;
  }

  function renderAnswer(data, userRow) {
    conversation.setState(data.state, data.queue, data.agent);
    const emergency = Boolean(data.trace && data.trace.emergency);
    const replies = Array.isArray(data.replies) ? data.replies : [];
    let shown = 0;
    for (const reply of replies) {
      if (addBotReply(reply, emergency)) shown += 1;
    }
    if (shown === 0 && conversation.state === 'agent') markDelivered(userRow, '已送达人工客服');
    else if (shown === 0 && conversation.state === 'queued') markDelivered(userRow, '已送达，排队中');
    conversation.answered();
  }

  /**
   * Send `text` to the assistant, showing `display` as the citizen's bubble.
   * opts.fromInput: the text was typed, so give it back to the input on failure.
   */
  async function sendMessage(text, display, opts = {}) {
    const payload = asText(text).slice(0, CONFIG.maxLen);
    if (busy || !payload.trim()) return false;

    const myGeneration = generation;
    const ctrl = new AbortController();
    controller = ctrl;
    setBusy(true);
    conversation.beforeSend();

    const userRow = addUserMessage(display || payload);
    showTyping();

    const result = await YishiCitizen.postChat(CONFIG, citizen, payload, ctrl);

    if (myGeneration !== generation) return false; // 新对话 was pressed meanwhile

    controller = null;
    hideTyping();
    setBusy(false);

    if (result.ok) {
      renderAnswer(result.data, userRow);
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
    citizen.forgetSender();
    clearMessages();
    conversation.reset();
    scrollToBottom();
    els.input.focus();
    citizen.ensureSession(); // a fresh id (and token) for the next conversation
    conversation.schedule(CONFIG.pollSlowMs);
  }

  // ---------------------------------------------------------------- wiring

  function init() {
    els = {
      messages: document.getElementById('messages'),
      hint: document.getElementById('chat-hint'),
      input: document.getElementById('chat-input'),
      send: document.getElementById('chat-send'),
      form: document.getElementById('chat-form'),
      stateCancel: document.getElementById('state-cancel'),
      newChat: document.getElementById('new-chat'),
      quick: document.getElementById('quick-replies'),
    };

    YishiCitizen.onEnter(els.form, els.input, submitFromInput);

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

    // Create and persist the id up front, then see whether anything arrived meanwhile
    // (a reload while queued or talking to an agent); poll again on coming back to the tab.
    conversation.start();
    setBusy(false);
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
