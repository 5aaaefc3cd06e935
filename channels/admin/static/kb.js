/*
 * 一事通 · 知识库维护 — hit testing, guide/FAQ edits, FAQ draft review and index rebuilds.
 *
 * Plain ES2020, no build step. Logs in through /api/agent/login like the dashboard; every
 * change is a JSON call with X-Yishi-CSRF. Text from the API is inserted with textContent
 * only. Tabs follow the WAI-ARIA tabs pattern (arrow keys, Home, End); #search, #edit,
 * #drafts and #rebuild in the address open a tab.
 */
(() => {
  'use strict';

  const REQUEST_TIMEOUT_MS = 120000; // the first hit test loads the embedding model
  const POLL_MS = 1000;
  const TEXT_NETWORK_ERROR = '网络连接失败，请检查网络后重试。';
  const TEXT_GENERIC_ERROR = '操作失败，请稍后再试。';
  const BANDS = { answer: '直接回答', clarify: '请市民选择', none: '无法回答' };
  const ASPECTS = {
    conditions: '办理条件', materials: '所需材料', process: '办理流程', time_limit: '办理时限',
    fee: '收费标准', location: '办理地点', online: '网上办理', other: '常见问题',
  };
  const STAGES = {
    starting: '正在启动',
    knowledge: '读取并校验知识库',
    embed: '计算有变化内容的向量',
    index: '写入索引',
    calibrate: '校准回答置信度',
    publish: '启用新索引',
    done: '完成',
    error: '失败',
  };
  const TABS = ['search', 'edit', 'drafts', 'rebuild'];

  const state = {
    me: null,
    services: {},
    guides: [],
    faq: [],
    doc: null, // the guide or FAQ entry being edited
    drafts: [],
    draft: null,
    rebuild: null,
    polling: null,
    watchingSince: 0,
  };
  const els = {};

  // ---------------------------------------------------------------- api

  const { ApiError, createApi, loginCredentials } = window.YishiStaffApi;
  const api = createApi({
    timeoutMs: REQUEST_TIMEOUT_MS,
    networkText: TEXT_NETWORK_ERROR,
    defaultDetail: () => TEXT_GENERIC_ERROR,
    onUnauthorized: (path) => {
      if (!path.endsWith('/login')) showLogin('登录已过期，请重新登录。');
    },
  });

  function errorText(error) {
    return error instanceof ApiError ? error.detail : TEXT_GENERIC_ERROR;
  }

  function announce(text) {
    els.announcer.textContent = '';
    window.setTimeout(() => { els.announcer.textContent = text; }, 50);
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function serviceLabel(id) {
    if (!id) return '–';
    return state.services[id] ? `${state.services[id]}（${id}）` : id;
  }

  function shortValue(value) {
    if (value === null || value === undefined || value === '') return '（空）';
    if (Array.isArray(value)) return value.map((v) => (typeof v === 'object' ? JSON.stringify(v) : v)).join('\n');
    if (typeof value === 'object') return JSON.stringify(value, null, 1);
    if (typeof value === 'boolean') return value ? '是' : '否';
    return String(value);
  }

  function localDate(value) {
    if (!value) return '–';
    const at = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
    if (Number.isNaN(at.getTime())) return String(value);
    return at.toLocaleString('zh-CN', { timeZone: 'Asia/Shanghai', hour12: false });
  }

  function todayIso() {
    return new Intl.DateTimeFormat('en-CA', {
      timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit',
    }).format(new Date());
  }

  // ---------------------------------------------------------------- views and login

  function showOnly(view) {
    for (const node of [els.loginView, els.forbiddenView, els.kb]) node.hidden = node !== view;
    const signedIn = view !== els.loginView;
    els.me.hidden = !signedIn || !state.me;
    els.logout.hidden = !signedIn;
  }

  function setMe(agent) {
    state.me = agent || null;
    els.me.textContent = agent
      ? `${agent.display_name || agent.username}（${agent.employee_no || agent.username}）` : '';
  }

  function showLogin(message) {
    stopPolling();
    setMe(null);
    showOnly(els.loginView);
    els.loginError.textContent = message || '';
    els.loginSubmit.disabled = false;
    els.loginPassword.value = '';
    (els.loginUsername.value ? els.loginPassword : els.loginUsername).focus();
  }

  function showForbidden(agent) {
    setMe(agent);
    const who = agent ? `当前账号“${agent.display_name || agent.username}”不是管理员` : '当前账号不是管理员';
    els.forbiddenText.textContent = `需要管理员权限：${who}，无法维护知识库。请使用管理员账号登录。`;
    showOnly(els.forbiddenView);
    els.forbiddenLogout.focus();
  }

  async function enter(agent) {
    setMe(agent);
    if (!agent || agent.role !== 'admin') {
      showForbidden(agent);
      return;
    }
    showOnly(els.kb);
    const wanted = window.location.hash.slice(1);
    selectTab(TABS.includes(wanted) ? wanted : 'search', false);
    await loadCatalogue();
    refreshRebuild();
    loadDrafts();
  }

  async function onLogin(event) {
    event.preventDefault();
    const credentials = loginCredentials(els);
    if (!credentials) return;
    const { username, password } = credentials;
    els.loginSubmit.disabled = true;
    try {
      const data = await api('POST', '/api/agent/login', { username, password });
      els.loginPassword.value = '';
      enter(data.agent);
    } catch (error) {
      els.loginError.textContent = errorText(error);
      els.loginPassword.focus();
    } finally {
      els.loginSubmit.disabled = false;
    }
  }

  async function logout() {
    try {
      await api('POST', '/api/agent/logout');
    } catch (_) {
      // already gone
    }
    showLogin('');
  }

  // ---------------------------------------------------------------- tabs

  function selectTab(name, focus) {
    for (const tab of els.tabs) {
      const selected = tab.dataset.tab === name;
      tab.setAttribute('aria-selected', String(selected));
      tab.tabIndex = selected ? 0 : -1;
      document.getElementById(tab.getAttribute('aria-controls')).hidden = !selected;
      if (selected && focus) tab.focus();
    }
    if (window.location.hash !== `#${name}`) window.history.replaceState(null, '', `#${name}`);
    if (name === 'rebuild') refreshRebuild();
    if (name === 'drafts') loadDrafts();
  }

  function onTabKey(event) {
    const index = els.tabs.indexOf(event.currentTarget);
    let next = null;
    if (event.key === 'ArrowRight') next = (index + 1) % els.tabs.length;
    else if (event.key === 'ArrowLeft') next = (index - 1 + els.tabs.length) % els.tabs.length;
    else if (event.key === 'Home') next = 0;
    else if (event.key === 'End') next = els.tabs.length - 1;
    if (next === null) return;
    event.preventDefault();
    selectTab(els.tabs[next].dataset.tab, true);
  }

  // ---------------------------------------------------------------- catalogue and state line

  async function loadCatalogue() {
    try {
      const [guides, faq] = await Promise.all([
        api('GET', '/api/admin/kb/guides'),
        api('GET', '/api/admin/kb/faq'),
      ]);
      state.guides = guides.items || [];
      state.faq = faq.items || [];
      state.services = Object.fromEntries(state.guides.map((g) => [g.service_id, g.name]));
      fillTargets();
      fillServiceOptions();
    } catch (error) {
      els.editError.textContent = errorText(error);
    }
  }

  function renderKbState(status) {
    if (!status) return;
    const version = status.kb_version || '（尚未构建）';
    els.kbState.dataset.pending = String(Boolean(status.pending_changes));
    els.kbState.textContent = status.pending_changes
      ? `当前索引 ${version}；知识库有尚未生效的修改，请重建索引。`
      : `当前索引 ${version}；知识库与索引一致。`;
  }

  // ---------------------------------------------------------------- hit testing

  async function onSearch(event) {
    event.preventDefault();
    const query = els.searchQuery.value.trim();
    if (!query) {
      els.searchError.textContent = '请输入要测试的问题。';
      els.searchQuery.setAttribute('aria-invalid', 'true');
      els.searchQuery.focus();
      return;
    }
    els.searchQuery.removeAttribute('aria-invalid');
    els.searchError.textContent = '';
    els.searchSubmit.disabled = true;
    els.searchSubmit.textContent = '查询中…';
    try {
      const data = await api('POST', '/api/kb/search', { query, top_k: Number(els.searchTopk.value) });
      renderSearch(data);
      announce(`命中测试完成：${BANDS[data.band] || data.band}，共 ${data.hits.length} 条结果`);
    } catch (error) {
      els.searchResult.hidden = true;
      els.searchError.textContent = errorText(error);
    } finally {
      els.searchSubmit.disabled = false;
      els.searchSubmit.textContent = '查询';
    }
  }

  function renderSearch(data) {
    els.searchResult.hidden = false;
    els.searchBand.replaceChildren(make('span', `band band-${data.band}`, BANDS[data.band] || data.band));
    els.searchConfidence.textContent = Number(data.confidence).toFixed(3);
    els.searchVersion.textContent = data.kb_version;
    const body = els.hitsTable.querySelector('tbody');
    body.replaceChildren();
    if (!data.hits.length) {
      const tr = make('tr');
      const td = make('td', 'empty', '没有命中任何内容');
      td.colSpan = 8;
      tr.append(td);
      body.append(tr);
      return;
    }
    data.hits.forEach((hit, index) => {
      const tr = make('tr');
      const rank = make('th', null, String(index + 1));
      rank.scope = 'row';
      const version = hit.guide_version
        ? `${hit.guide_version}${hit.effective_date ? `（${hit.effective_date}起）` : ''}` : '–';
      tr.append(
        rank,
        make('td', null, `${hit.title}（${hit.doc_id}）`),
        make('td', null, serviceLabel(hit.service_id)),
        make('td', null, ASPECTS[hit.aspect] || hit.aspect || '–'),
        make('td', 'num', Number(hit.score).toFixed(4)),
        make('td', 'num', Number(hit.dense).toFixed(4)),
        make('td', 'num', Number(hit.lexical).toFixed(4)),
        make('td', null, version),
      );
      body.append(tr);
    });
  }

  // ---------------------------------------------------------------- editing

  function fillTargets() {
    const kind = els.editKind.value;
    const select = els.editTarget;
    const previous = select.value;
    select.replaceChildren();
    const items = kind === 'guide' ? state.guides : state.faq;
    if (!items.length) {
      select.append(new Option(kind === 'guide' ? '没有办事指南' : '还没有常见问题条目（发布FAQ草稿后出现在这里）', ''));
    }
    for (const item of items) {
      const label = kind === 'guide'
        ? `${item.name}（${item.service_id}） · 版本 ${item.version}`
        : `${item.question}（${item.id}） · 版本 ${item.version}`;
      select.append(new Option(label, kind === 'guide' ? item.service_id : item.id));
    }
    if ([...select.options].some((o) => o.value === previous)) select.value = previous;
    els.editSectionWrap.hidden = kind !== 'guide';
    loadDoc();
  }

  function fillServiceOptions() {
    els.draftService.replaceChildren(new Option('（不属于某个事项）', ''));
    for (const g of state.guides) els.draftService.append(new Option(`${g.name}（${g.service_id}）`, g.service_id));
    els.draftAspect.replaceChildren(new Option('（不限）', ''));
    for (const [key, name] of Object.entries(ASPECTS)) els.draftAspect.append(new Option(name, key));
  }

  async function loadDoc() {
    const kind = els.editKind.value;
    const id = els.editTarget.value;
    els.editSaved.textContent = '';
    clearErrors(els.editForm, els.editError);
    els.editForm.dataset.doc = '';
    if (!id) {
      state.doc = null;
      els.editForm.hidden = true;
      els.editMeta.textContent = '';
      renderHistory([]);
      return;
    }
    try {
      const path = kind === 'guide' ? `/api/admin/kb/guides/${encodeURIComponent(id)}` : `/api/admin/kb/faq/${encodeURIComponent(id)}`;
      const doc = await api('GET', path);
      if (els.editTarget.value !== id || els.editKind.value !== kind) return;
      state.doc = { kind, id, ...doc };
      renderDoc();
    } catch (error) {
      els.editError.textContent = errorText(error);
    }
  }

  function renderDoc() {
    const doc = state.doc;
    els.editMeta.textContent = `文件 knowledge/${doc.file} · 当前版本 ${doc.version} · ${doc.effective_date || '–'} 起施行`;
    if (doc.kind === 'guide') {
      const previous = els.editSection.value;
      els.editSection.replaceChildren();
      for (const section of doc.sections) els.editSection.append(new Option(section.label, section.key));
      els.editSection.value = doc.sections.some((s) => s.key === previous) ? previous : 'fee';
    }
    els.editVersion.value = suggestVersion(doc.version, doc.kind);
    els.editVersionHint.textContent = `当前版本 ${doc.version}，新版本号必须更高`;
    els.editDate.value = todayIso();
    els.editDateHint.textContent = '';
    els.editNote.value = '';
    renderFields();
    renderHistory(doc.history || []);
    els.editForm.hidden = false;
    els.editForm.dataset.doc = `${doc.kind}:${doc.id}`;
  }

  function suggestVersion(version, kind) {
    const match = /^(\d{4})\.(\d+)$/.exec(version || '');
    if (match) return `${match[1]}.${Number(match[2]) + 1}`;
    if (kind === 'faq' && /^\d+$/.test(version || '')) return String(Number(version) + 1);
    return '';
  }

  function currentFields() {
    const doc = state.doc;
    if (!doc) return [];
    if (doc.kind === 'faq') return doc.fields;
    const section = doc.sections.find((s) => s.key === els.editSection.value) || doc.sections[0];
    els.editLegend.textContent = section.label;
    return section.fields;
  }

  function inputId(path) {
    return `f-${path.replace(/[^a-z0-9]+/gi, '-')}`;
  }

  function renderFields() {
    const fields = currentFields();
    if (state.doc.kind === 'faq') els.editLegend.textContent = '常见问题条目';
    els.editFields.replaceChildren();
    for (const f of fields) els.editFields.append(fieldWidget(f));
  }

  function fieldWidget(f) {
    const wrap = make('div', 'field');
    wrap.dataset.path = f.path;
    const id = inputId(f.path);
    const label = make('label', null, f.label + (f.nullable ? '（可不填）' : ''));
    label.htmlFor = id;
    let input;
    let hint = '';
    if (f.kind === 'bool') {
      wrap.classList.add('field-check');
      input = make('input');
      input.type = 'checkbox';
      input.checked = Boolean(f.value);
      wrap.append(input, label);
    } else {
      if (f.path === 'service_id') {
        input = make('select');
        input.append(new Option('（不属于某个事项）', ''));
        for (const g of state.guides) input.append(new Option(`${g.name}（${g.service_id}）`, g.service_id));
        input.value = f.value || '';
      } else if (f.kind === 'select') {
        input = make('select');
        if (f.nullable) input.append(new Option('（不填）', ''));
        for (const option of f.options || []) input.append(new Option(ASPECTS[option] || option, option));
        input.value = f.value === null || f.value === undefined ? '' : String(f.value);
      } else if (f.kind === 'lines') {
        input = make('textarea');
        input.rows = Math.min(12, Math.max(3, (f.value || []).length + 1));
        input.value = (f.value || []).join('\n');
        hint = '每行一项';
      } else if (f.kind === 'yaml') {
        input = make('textarea', 'mono');
        input.rows = Math.min(24, Math.max(6, (f.value_yaml || '').split('\n').length + 1));
        input.value = f.value_yaml || '';
        input.spellcheck = false;
        hint = 'YAML 格式（与指南文件相同的写法）';
      } else if (f.kind === 'int') {
        input = make('input');
        input.type = 'number';
        input.value = f.value === null || f.value === undefined ? '' : String(f.value);
      } else {
        const text = f.value === null || f.value === undefined ? '' : String(f.value);
        const long = text.length > 30 || /(text|summary|answer|note|basis|legal)$/.test(f.path);
        input = make(long ? 'textarea' : 'input');
        if (!long) input.type = 'text';
        else input.rows = Math.min(8, Math.max(2, Math.ceil(text.length / 60)));
        input.value = text;
      }
      wrap.append(label, input);
      if (hint) {
        const hintNode = make('p', 'field-hint', hint);
        hintNode.id = `${id}-hint`;
        input.setAttribute('aria-describedby', hintNode.id);
        wrap.append(hintNode);
      }
    }
    input.id = id;
    input.dataset.path = f.path;
    input.dataset.kind = f.kind;
    const error = make('p', 'field-error');
    error.id = `${id}-error`;
    error.hidden = true;
    wrap.append(error);
    return wrap;
  }

  function readValue(input, f) {
    if (f.kind === 'bool') return input.checked;
    const raw = input.value;
    if (f.kind === 'lines') return raw.split('\n').map((s) => s.trim()).filter(Boolean);
    if (f.kind === 'int') return raw.trim() === '' ? null : Number(raw);
    if ((f.kind === 'select' || f.kind === 'text') && raw.trim() === '' && f.nullable) return null;
    if (f.path === 'service_id' && raw === '') return null;
    return raw.trim();
  }

  function changedFields() {
    const changes = [];
    for (const f of currentFields()) {
      const input = document.getElementById(inputId(f.path));
      if (!input) continue;
      if (f.kind === 'yaml') {
        if (input.value.trim() !== (f.value_yaml || '').trim()) changes.push({ path: f.path, value_yaml: input.value });
        continue;
      }
      const value = readValue(input, f);
      if (JSON.stringify(value) !== JSON.stringify(f.value ?? (f.kind === 'lines' ? [] : null))) {
        changes.push({ path: f.path, value });
      }
    }
    return changes;
  }

  function clearErrors(form, box) {
    box.replaceChildren();
    for (const node of form.querySelectorAll('[aria-invalid]')) node.removeAttribute('aria-invalid');
    for (const node of form.querySelectorAll('.field-error')) {
      node.hidden = true;
      node.textContent = '';
    }
  }

  /** Mark the fields the API named and focus the first; the summary goes to `box`. */
  function showProblems(form, box, error) {
    const problems = (error.body && error.body.problems) || [];
    box.replaceChildren(make('p', null, errorText(error)));
    if (problems.length > 1) {
      const list = make('ul');
      for (const p of problems) list.append(make('li', null, `${p.field}：${p.message}`));
      box.append(list);
    }
    let first = null;
    const fields = problems.length ? problems : (error.body && error.body.field ? [{ field: error.body.field, message: error.detail }] : []);
    for (const p of fields) {
      const input = findInput(form, p.field);
      if (!input) continue;
      input.setAttribute('aria-invalid', 'true');
      const note = document.getElementById(`${input.id}-error`);
      if (note) {
        note.textContent = p.message;
        note.hidden = false;
        const described = (input.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
        if (!described.includes(note.id)) input.setAttribute('aria-describedby', [...described, note.id].join(' '));
      }
      first = first || input;
    }
    (first || box).focus?.();
  }

  function findInput(form, field) {
    if (!field) return null;
    const parts = String(field).split('.');
    for (let n = parts.length; n > 0; n -= 1) {
      const path = parts.slice(0, n).join('.');
      const input = form.querySelector(`[data-path="${CSS.escape(path)}"]:is(input, select, textarea)`);
      if (input) return input;
    }
    return null;
  }

  async function onSave(event) {
    event.preventDefault();
    const doc = state.doc;
    if (!doc) return;
    clearErrors(els.editForm, els.editError);
    els.editSaved.textContent = '';
    const changes = changedFields();
    if (!changes.length) {
      els.editError.textContent = '内容没有变化：请修改至少一个字段后再保存。';
      return;
    }
    const body = {
      changes,
      version: els.editVersion.value.trim(),
      effective_date: els.editDate.value,
      note: els.editNote.value.trim(),
      base_sha: doc.sha,
    };
    const path = doc.kind === 'guide' ? `/api/admin/kb/guides/${encodeURIComponent(doc.id)}` : `/api/admin/kb/faq/${encodeURIComponent(doc.id)}`;
    els.editSave.disabled = true;
    try {
      const saved = await api('PATCH', path, body);
      await loadCatalogue();
      els.editTarget.value = doc.id;
      await loadDoc();
      const text = `已保存：版本 ${saved.version}，${saved.effective_date} 起施行（修改了 ${Object.keys(saved.after).join('、')}）。重建索引后市民即可看到。`;
      els.editSaved.textContent = text;
      announce(text);
      refreshRebuild();
    } catch (error) {
      showProblems(els.editForm, els.editError, error);
    } finally {
      els.editSave.disabled = false;
    }
  }

  function renderHistory(items) {
    const body = els.historyTable.querySelector('tbody');
    body.replaceChildren();
    if (!items.length) {
      const tr = make('tr');
      const td = make('td', 'empty', '暂无修改记录');
      td.colSpan = 8;
      tr.append(td);
      body.append(tr);
      return;
    }
    for (const item of items) {
      const paths = Object.keys(item.after || {});
      const tr = make('tr');
      const when = make('th', null, localDate(item.at));
      when.scope = 'row';
      tr.append(
        when,
        make('td', null, item.actor),
        make('td', null, item.action === 'publish' ? '发布新条目' : paths.join('、')),
        make('td', 'diff', paths.map((p) => shortValue(item.before[p])).join('\n')),
        make('td', 'diff', paths.map((p) => shortValue(item.after[p])).join('\n')),
        make('td', null, item.version_before ? `${item.version_before} → ${item.version}` : item.version),
        make('td', null, item.effective_date || '–'),
        make('td', null, item.note || '–'),
      );
      body.append(tr);
    }
  }

  // ---------------------------------------------------------------- drafts

  async function loadDrafts() {
    if (!state.me) return;
    try {
      const stateFilter = els.draftsState.value;
      const [data, pending] = await Promise.all([
        api('GET', `/api/admin/kb/drafts${stateFilter ? `?state=${stateFilter}` : ''}`),
        api('GET', '/api/admin/kb/drafts?state=draft'),
      ]);
      state.drafts = data.items || [];
      els.draftsCount.textContent = String((pending.items || []).length);
      renderDrafts();
    } catch (error) {
      els.draftError.textContent = errorText(error);
    }
  }

  function renderDrafts() {
    els.draftsList.replaceChildren();
    if (!state.drafts.length) {
      els.draftsList.append(make('li', 'empty', '没有这个状态的草稿'));
    }
    for (const d of state.drafts) {
      const li = make('li');
      const button = make('button', 'draft-item');
      button.type = 'button';
      button.dataset.id = String(d.id);
      if (state.draft && state.draft.id === d.id) button.setAttribute('aria-current', 'true');
      button.append(
        make('span', 'draft-q', `#${d.id} ${d.question}`),
        make('span', 'draft-by', `${d.state_name} · 坐席 ${d.created_by} · ${localDate(d.created_at)}`),
      );
      li.append(button);
      els.draftsList.append(li);
    }
    if (state.draft && !state.drafts.some((d) => d.id === state.draft.id)) {
      state.draft = null;
      els.draftForm.hidden = true;
    }
  }

  function openDraft(id, focusTarget) {
    const d = state.drafts.find((x) => x.id === id);
    if (!d) return;
    state.draft = d;
    for (const b of els.draftsList.querySelectorAll('.draft-item')) {
      if (Number(b.dataset.id) === id) b.setAttribute('aria-current', 'true');
      else b.removeAttribute('aria-current');
    }
    clearErrors(els.draftForm, els.draftError);
    els.draftSaved.textContent = '';
    els.draftTitle.textContent = `草稿 #${d.id}（${d.state_name}）`;
    const from = d.sender ? `来自会话 ${d.sender}` : '';
    els.draftMeta.textContent = `坐席 ${d.created_by} 于 ${localDate(d.created_at)} 提交 ${from}`
      + (d.faq_id ? ` · 已发布为 ${d.faq_id}` : '')
      + (d.review_note ? ` · 审核意见：${d.review_note}` : '');
    els.draftQuestion.value = d.question;
    els.draftAnswer.value = d.answer;
    els.draftPhrasings.value = (d.phrasings || []).join('\n');
    els.draftService.value = d.service_id || '';
    els.draftAspect.value = d.aspect || '';
    els.draftDepartment.value = d.department || '';
    els.draftNote.value = '';
    const open = d.state === 'draft' || d.state === 'approved';
    for (const node of [els.draftQuestion, els.draftAnswer, els.draftPhrasings, els.draftService,
      els.draftAspect, els.draftDepartment, els.draftNote]) node.disabled = !open;
    els.draftSave.disabled = !open;
    els.draftApprove.disabled = d.state !== 'draft';
    els.draftPublish.disabled = d.state !== 'approved';
    els.draftReject.disabled = !open;
    els.draftForm.hidden = false;
    const target = focusTarget && !focusTarget.disabled ? focusTarget : (open ? els.draftQuestion : els.draftTitle);
    if (!target.hasAttribute('tabindex') && target === els.draftTitle) target.tabIndex = -1;
    target.focus();
  }

  function draftEdits() {
    const d = state.draft;
    const now = {
      question: els.draftQuestion.value.trim(),
      answer: els.draftAnswer.value.trim(),
      phrasings: els.draftPhrasings.value.split('\n').map((s) => s.trim()).filter(Boolean),
      service_id: els.draftService.value,
      aspect: els.draftAspect.value,
      department: els.draftDepartment.value.trim(),
    };
    const was = {
      question: d.question, answer: d.answer, phrasings: d.phrasings || [],
      service_id: d.service_id || '', aspect: d.aspect || '', department: d.department || '',
    };
    return Object.fromEntries(Object.entries(now).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(was[k])));
  }

  async function saveDraft() {
    const edits = draftEdits();
    if (!Object.keys(edits).length) return state.draft;
    const updated = await api('PATCH', `/api/admin/kb/drafts/${state.draft.id}`, edits);
    state.draft = updated;
    return updated;
  }

  async function draftAction(kind) {
    if (!state.draft) return;
    clearErrors(els.draftForm, els.draftError);
    els.draftSaved.textContent = '';
    const note = els.draftNote.value.trim();
    if (kind === 'rejected' && note.length < 2) {
      els.draftError.textContent = '驳回时请填写审核意见。';
      els.draftNote.setAttribute('aria-invalid', 'true');
      els.draftNote.focus();
      return;
    }
    const buttons = [els.draftSave, els.draftApprove, els.draftPublish, els.draftReject];
    for (const b of buttons) b.disabled = true;
    try {
      let draft = state.draft;
      if (kind !== 'rejected') draft = await saveDraft();
      let text = '草稿已保存。';
      if (kind !== 'save') {
        draft = await api('POST', `/api/admin/kb/drafts/${draft.id}/transition`, { to: kind, note });
        text = kind === 'approved' ? '已审核通过，可以发布到知识库。'
          : kind === 'rejected' ? '已驳回。'
            : `已发布为常见问题 ${draft.faq_id}。请到“重建索引”重建后生效。`;
      }
      state.draft = draft;
      // follow the draft to the list of its new state, so it stays open
      if (els.draftsState.value && els.draftsState.value !== draft.state) els.draftsState.value = draft.state;
      await loadDrafts();
      if (kind === 'published') await loadCatalogue();
      const shown = state.drafts.find((x) => x.id === draft.id);
      if (shown) openDraft(draft.id, draft.state === 'approved' ? els.draftPublish : null);
      els.draftSaved.textContent = text;
      announce(text);
      if (kind === 'published') refreshRebuild();
    } catch (error) {
      showProblems(els.draftForm, els.draftError, error);
      if (state.draft) {
        const d = state.draft;
        els.draftSave.disabled = !(d.state === 'draft' || d.state === 'approved');
        els.draftApprove.disabled = d.state !== 'draft';
        els.draftPublish.disabled = d.state !== 'approved';
        els.draftReject.disabled = els.draftSave.disabled;
      }
    }
  }

  // ---------------------------------------------------------------- rebuild

  function stopPolling() {
    window.clearTimeout(state.polling);
    state.polling = null;
  }

  async function refreshRebuild() {
    if (!state.me) return;
    stopPolling();
    try {
      const status = await api('GET', '/api/admin/kb/rebuild');
      renderRebuild(status);
      if (status.state === 'running') state.polling = window.setTimeout(refreshRebuild, POLL_MS);
    } catch (error) {
      if (error.status !== 401) {
        els.rebuildError.textContent = errorText(error);
        state.polling = window.setTimeout(refreshRebuild, POLL_MS * 3);
      }
    }
  }

  function setBar(percent, stateName, text) {
    const value = Math.max(0, Math.min(100, Math.round(percent)));
    els.rebuildFill.style.width = `${value}%`;
    els.rebuildBar.setAttribute('aria-valuenow', String(value));
    els.rebuildBar.setAttribute('aria-valuetext', text);
    els.rebuildBar.dataset.state = stateName;
    if (els.rebuildStatus.textContent !== text) els.rebuildStatus.textContent = text;
  }

  function renderRebuild(status) {
    const previous = state.rebuild;
    state.rebuild = status;
    renderKbState(status);
    els.rebuildVersion.textContent = status.kb_version || '（尚未构建）';
    els.rebuildPending.textContent = status.pending_changes ? '有尚未生效的修改' : '与索引一致';
    const last = status.last;
    if (status.state === 'running') {
      const p = status.progress || {};
      const stage = STAGES[p.stage] || p.stage || '进行中';
      const count = p.total > 1 ? `（${p.done}/${p.total}）` : '';
      const step = p.step ? `第 ${p.step}/${p.steps} 步：` : '';
      setBar(p.percent || 0, 'running', `${step}${stage}${count}，${Math.round(p.percent || 0)}%`);
      els.rebuildStart.disabled = true;
      els.rebuildStart.textContent = '正在重建…';
    } else {
      els.rebuildStart.disabled = false;
      els.rebuildStart.textContent = '开始重建索引';
      const finishedNow = previous && previous.state === 'running';
      const recent = last && state.watchingSince && last.started_at >= state.watchingSince - 5;
      if (last && (finishedNow || recent)) {
        if (last.ok) {
          setBar(100, 'done', `重建完成：索引版本 ${last.kb_version}，用时 ${last.seconds} 秒`);
        } else {
          setBar(100, 'failed', '重建失败，请查看下方原因');
        }
        if (finishedNow) announce(els.rebuildStatus.textContent);
      } else if (!previous || previous.state !== 'running') {
        setBar(0, 'idle', '未开始');
      }
    }
    renderLast(last);
  }

  function renderLast(last) {
    if (!last) {
      for (const node of [els.lastResult, els.lastVersion, els.lastSeconds, els.lastBy]) node.textContent = '–';
      els.lastDetail.hidden = true;
      return;
    }
    els.lastResult.textContent = last.ok ? `成功（${localDate(last.finished_at)}）` : `失败（${localDate(last.finished_at)}）`;
    els.lastVersion.textContent = last.kb_version || '–';
    els.lastSeconds.textContent = last.seconds !== undefined ? `${last.seconds} 秒` : '–';
    els.lastBy.textContent = last.started_by || '–';
    els.lastDetail.hidden = Boolean(last.ok);
    els.lastDetail.textContent = last.ok ? '' : `${last.error || ''}\n${last.error_detail || ''}`.trim();
  }

  async function startRebuild() {
    els.rebuildError.textContent = '';
    els.rebuildStart.disabled = true;
    state.watchingSince = Date.now() / 1000;
    try {
      const status = await api('POST', '/api/admin/kb/rebuild');
      setBar(0, 'running', '正在启动…');
      renderRebuild(status);
      announce('索引重建已开始');
      state.polling = window.setTimeout(refreshRebuild, POLL_MS);
    } catch (error) {
      els.rebuildError.textContent = errorText(error);
      refreshRebuild();
    }
  }

  // ---------------------------------------------------------------- start

  function start() {
    const $ = (id) => document.getElementById(id);
    Object.assign(els, {
      announcer: $('announcer'), me: $('me'), logout: $('logout'),
      loginView: $('login-view'), loginForm: $('login-form'), loginUsername: $('login-username'),
      loginPassword: $('login-password'), loginSubmit: $('login-submit'), loginError: $('login-error'),
      forbiddenView: $('forbidden-view'), forbiddenText: $('forbidden-text'), forbiddenLogout: $('forbidden-logout'),
      kb: $('kb'), kbState: $('kb-state'),
      tabs: [...document.querySelectorAll('[role="tab"]')],
      searchForm: $('search-form'), searchQuery: $('search-query'), searchTopk: $('search-topk'),
      searchSubmit: $('search-submit'), searchError: $('search-error'), searchResult: $('search-result'),
      searchBand: $('search-band'), searchConfidence: $('search-confidence'), searchVersion: $('search-version'),
      hitsTable: $('t-hits'),
      editKind: $('edit-kind'), editTarget: $('edit-target'), editSection: $('edit-section'),
      editSectionWrap: $('edit-section-wrap'), editMeta: $('edit-meta'), editForm: $('edit-form'),
      editLegend: $('edit-legend'), editFields: $('edit-fields'), editVersion: $('edit-version'),
      editVersionHint: $('edit-version-hint'), editDate: $('edit-date'), editDateHint: $('edit-date-hint'), editNote: $('edit-note'),
      editError: $('edit-error'), editSave: $('edit-save'), editReset: $('edit-reset'),
      editSaved: $('edit-saved'), historyTable: $('t-history'),
      draftsState: $('drafts-state'), draftsRefresh: $('drafts-refresh'), draftsList: $('drafts-list'),
      draftsCount: $('drafts-count'), draftForm: $('draft-form'), draftTitle: $('draft-title'),
      draftMeta: $('draft-meta'), draftQuestion: $('draft-question'), draftAnswer: $('draft-answer'),
      draftPhrasings: $('draft-phrasings'), draftService: $('draft-service'), draftAspect: $('draft-aspect'),
      draftDepartment: $('draft-department'), draftNote: $('draft-note'), draftError: $('draft-error'),
      draftSave: $('draft-save'), draftApprove: $('draft-approve'), draftPublish: $('draft-publish'),
      draftReject: $('draft-reject'), draftSaved: $('draft-saved'),
      rebuildVersion: $('rebuild-version'), rebuildPending: $('rebuild-pending'), rebuildStart: $('rebuild-start'),
      rebuildBar: $('rebuild-bar'), rebuildFill: $('rebuild-fill'), rebuildStatus: $('rebuild-status'),
      rebuildError: $('rebuild-error'), lastResult: $('last-result'), lastVersion: $('last-version'),
      lastSeconds: $('last-seconds'), lastBy: $('last-by'), lastDetail: $('last-detail'),
    });
    els.loginForm.addEventListener('submit', onLogin);
    els.logout.addEventListener('click', logout);
    els.forbiddenLogout.addEventListener('click', logout);
    for (const tab of els.tabs) {
      tab.addEventListener('click', () => selectTab(tab.dataset.tab, false));
      tab.addEventListener('keydown', onTabKey);
    }
    window.addEventListener('hashchange', () => {
      const name = window.location.hash.slice(1);
      if (TABS.includes(name) && state.me) selectTab(name, false);
    });
    els.searchForm.addEventListener('submit', onSearch);
    els.editKind.addEventListener('change', fillTargets);
    els.editTarget.addEventListener('change', loadDoc);
    els.editSection.addEventListener('change', () => {
      clearErrors(els.editForm, els.editError);
      renderFields();
    });
    els.editForm.addEventListener('submit', onSave);
    els.editDate.addEventListener('change', () => {
      const future = els.editDate.value && els.editDate.value > todayIso();
      els.editDateHint.textContent = future
        ? '生效日期晚于今天：重建索引后市民会立即看到新内容，并看到“该日期起施行”。' : '';
    });
    els.editReset.addEventListener('click', () => {
      clearErrors(els.editForm, els.editError);
      renderFields();
    });
    els.draftsState.addEventListener('change', loadDrafts);
    els.draftsRefresh.addEventListener('click', loadDrafts);
    els.draftsList.addEventListener('click', (event) => {
      const button = event.target.closest('.draft-item');
      if (button) openDraft(Number(button.dataset.id));
    });
    els.draftForm.addEventListener('submit', (event) => {
      event.preventDefault();
      draftAction('save');
    });
    els.draftApprove.addEventListener('click', () => draftAction('approved'));
    els.draftPublish.addEventListener('click', () => draftAction('published'));
    els.draftReject.addEventListener('click', () => draftAction('rejected'));
    els.rebuildStart.addEventListener('click', startRebuild);

    api('GET', '/api/agent/me').then((data) => enter(data.agent)).catch(() => showLogin(''));
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', start);
  } else {
    start();
  }
})();
