// The WeChat simulator: builds the XML WeChat's servers would send (plaintext mode), gets a
// signature from /wechat-sim/api/sign, POSTs to the real /wechat webhook and shows the passive
// reply; customer-service pushes come from /wechat-sim/api/pushes (the gateway's push log).
(() => {
  'use strict';

  const ACCOUNT = 'gh_yishi_demo';
  const STORE_KEY = 'yishi-wechat-sim-openid';
  const POLL_MS = 2000;
  const $ = (id) => document.getElementById(id);
  const chat = $('chat');
  const input = $('input');
  const state = { openid: '', after: 0, busy: false, mode: 'plaintext', pollTimer: 0 };

  function newOpenid() {
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
    const bytes = new Uint8Array(24);
    crypto.getRandomValues(bytes);
    return 'oSim' + Array.from(bytes, (b) => chars[b % chars.length]).join('');
  }

  function make(tag, className, text) {
    const el = document.createElement(tag);
    if (className) el.className = className;
    if (text !== undefined) el.textContent = text;
    return el;
  }

  function scrollDown() { chat.scrollTop = chat.scrollHeight; }

  function bubble(side, text, meta, warn) {
    const row = make('div', 'row ' + (side === 'out' ? 'row-out' : 'row-in'));
    row.append(make('div', 'avatar ' + (side === 'out' ? 'avatar-me' : 'avatar-bot'), side === 'out' ? '我' : '事'));
    const body = make('div', 'bubble', text);
    if (meta) body.append(make('span', 'meta' + (warn ? ' meta-warn' : ''), meta));
    row.append(body);
    chat.append(row);
    scrollDown();
  }

  function note(text) {
    const row = make('div', 'system');
    row.append(make('span', '', text));
    chat.append(row);
    scrollDown();
  }

  function rawLog(title, text) {
    const entry = make('div', 'raw-entry');
    entry.append(make('div', 'raw-head', title), make('pre', '', text));
    $('raw-log').prepend(entry);
  }

  // -- XML as WeChat sends it --------------------------------------------------------------
  function cdata(text) {
    return '<![CDATA[' + String(text).replace(/]]>/g, ']]]]><![CDATA[>') + ']]>';
  }

  function buildXml(fields) {
    const parts = ['<xml>'];
    for (const [name, value] of fields) {
      const inner = typeof value === 'number' ? String(value) : cdata(value);
      parts.push(`<${name}>${inner}</${name}>`);
    }
    parts.push('</xml>');
    return parts.join('');
  }

  function msgId() {
    return String(Date.now()) + String(Math.floor(Math.random() * 1e6)).padStart(6, '0');
  }

  function envelope(type, extra) {
    return [
      ['ToUserName', ACCOUNT],
      ['FromUserName', state.openid],
      ['CreateTime', Math.floor(Date.now() / 1000)],
      ['MsgType', type],
      ...extra,
    ];
  }

  function replyText(xml) {
    const doc = new DOMParser().parseFromString(xml, 'application/xml');
    if (doc.getElementsByTagName('parsererror').length) return null;
    const content = doc.getElementsByTagName('Content')[0];
    return content ? content.textContent : null;
  }

  async function deliver(fields) {
    const signed = await fetch('/wechat-sim/api/sign', { method: 'POST' });
    if (!signed.ok) throw new Error('签名服务不可用（' + signed.status + '）');
    const sig = await signed.json();
    const xml = buildXml(fields);
    const query = new URLSearchParams({
      signature: sig.signature, timestamp: sig.timestamp, nonce: sig.nonce, openid: state.openid,
    });
    const started = performance.now();
    const response = await fetch('/wechat?' + query.toString(), {
      method: 'POST', headers: { 'Content-Type': 'text/xml' }, body: xml,
    });
    const body = await response.text();
    const ms = Math.round(performance.now() - started);
    rawLog('POST /wechat?' + query.toString(), xml);
    rawLog(`← ${response.status}（${ms} ms）`, body);
    if (!response.ok) {
      note(`网关拒绝了这条消息（HTTP ${response.status}）`);
      return;
    }
    if (body === 'success' || body === '') {
      note(`公众号回复 success（${ms} ms）：如有回复，将以客服消息送达`);
      return;
    }
    const text = replyText(body);
    bubble('in', text === null ? '（无法解析的回复）' : text, `被动回复 · ${ms} ms`);
  }

  async function run(fields) {
    if (state.busy) return;
    state.busy = true;
    document.querySelector('.composer-send').disabled = true;
    try {
      await deliver(fields);
    } catch (err) {
      note('发送失败：' + (err && err.message ? err.message : err));
    } finally {
      state.busy = false;
      document.querySelector('.composer-send').disabled = false;
      poll();
    }
  }

  // -- what the citizen does ---------------------------------------------------------------
  function sendText(text) {
    bubble('out', text);
    return run(envelope('text', [['Content', text], ['MsgId', msgId()]]));
  }

  function sendLocation() {
    const [lat, lon, label] = $('place').value.split(',');
    bubble('out', '[位置] ' + label);
    return run(envelope('location', [
      ['Location_X', lat], ['Location_Y', lon], ['Scale', 15], ['Label', label], ['MsgId', msgId()],
    ]));
  }

  function sendEvent(event, key, label) {
    note(label);
    return run(envelope('event', [['Event', event], ['EventKey', key || '']]));
  }

  function sendImage() {
    bubble('out', '[图片]');
    return run(envelope('image', [
      ['PicUrl', 'https://example.invalid/sim.jpg'], ['MediaId', 'sim-image-' + msgId()], ['MsgId', msgId()],
    ]));
  }

  function sendVoice() {
    bubble('out', '[语音 3″]');
    return run(envelope('voice', [
      ['MediaId', 'sim-voice-' + msgId()], ['Format', 'amr'], ['Recognition', ''], ['MsgId', msgId()],
    ]));
  }

  // -- customer-service pushes -------------------------------------------------------------
  const STATUS = { sent: '', pending: '发送中', failed: '未送达', skipped: '未发送（超出客服消息时限或条数）' };

  async function poll() {
    clearTimeout(state.pollTimer);
    try {
      const query = new URLSearchParams({ openid: state.openid, after: String(state.after) });
      const response = await fetch('/wechat-sim/api/pushes?' + query.toString());
      if (response.ok) {
        const body = await response.json();
        for (const push of body.pushes) {
          if (push.status === 'pending') break; // shown once it has an outcome
          state.after = push.id;
          const status = STATUS[push.status] || push.status;
          const detail = push.detail ? `：${push.detail}` : '';
          bubble('in', push.text, '客服消息' + (status ? ` · ${status}${detail}` : ''), push.status !== 'sent');
        }
      }
    } catch (_) { /* the next poll tries again */ }
    state.pollTimer = setTimeout(poll, POLL_MS);
  }

  // -- the menu ----------------------------------------------------------------------------
  function closeSubmenus() {
    document.querySelectorAll('.submenu').forEach((el) => el.remove());
  }

  function buildMenu(buttons) {
    const menu = $('menu');
    menu.replaceChildren();
    buttons.forEach((item, index) => {
      const button = make('button', 'menu-item', (item.sub_button ? '≡ ' : '') + item.name);
      button.type = 'button';
      button.addEventListener('click', (event) => {
        event.stopPropagation();
        const open = menu.querySelector('.submenu-' + index);
        closeSubmenus();
        if (!item.sub_button) {
          sendEvent('CLICK', item.key, '点击菜单「' + item.name + '」');
          return;
        }
        if (open) return;
        const list = make('div', 'submenu submenu-' + index);
        for (const sub of item.sub_button) {
          const entry = make('button', '', sub.name);
          entry.type = 'button';
          entry.addEventListener('click', (e) => {
            e.stopPropagation();
            closeSubmenus();
            sendEvent('CLICK', sub.key, '点击菜单「' + sub.name + '」');
          });
          list.append(entry);
        }
        menu.append(list);
      });
      menu.append(button);
    });
  }

  // -- start -------------------------------------------------------------------------------
  async function start() {
    state.openid = localStorage.getItem(STORE_KEY) || newOpenid();
    localStorage.setItem(STORE_KEY, state.openid);
    try {
      const response = await fetch('/wechat-sim/api/config');
      const config = await response.json();
      state.mode = config.mode;
      buildMenu(config.menu);
      if (config.mode === 'safe') {
        $('notice').textContent = '网关处于安全模式：模拟器只发明文消息，请在开发环境改用明文或兼容模式。';
        $('notice').hidden = false;
      }
    } catch (_) {
      note('读取菜单失败');
    }
    note('模拟用户 ' + state.openid.slice(0, 10) + '…');
    poll();
  }

  $('composer').addEventListener('submit', (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || state.busy) return;
    input.value = '';
    sendText(text);
  });
  $('more').addEventListener('click', () => {
    const extras = $('extras');
    extras.hidden = !extras.hidden;
    $('more').setAttribute('aria-expanded', String(!extras.hidden));
  });
  $('send-place').addEventListener('click', sendLocation);
  $('subscribe').addEventListener('click', () => sendEvent('subscribe', '', '关注了公众号'));
  $('unsubscribe').addEventListener('click', () => sendEvent('unsubscribe', '', '取消关注了公众号'));
  $('image').addEventListener('click', sendImage);
  $('voice').addEventListener('click', sendVoice);
  $('show-raw').addEventListener('change', (event) => { $('raw').hidden = !event.target.checked; });
  $('new-user').addEventListener('click', () => {
    localStorage.removeItem(STORE_KEY);
    chat.replaceChildren();
    state.after = 0;
    start();
  });
  document.addEventListener('click', closeSubmenus);
  start();
})();
