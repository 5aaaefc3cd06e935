/*
 * 一事通 · the staff pages' JSON client, shared by the agent console, the dashboard and the
 * knowledge admin page (loaded before each page's own script).
 *
 * One call: same-origin credentials, X-Yishi-CSRF on every change, a timeout, and on failure an
 * ApiError carrying the API's Chinese `detail`. Each page passes its own timeout, fallback texts
 * and what a 401 means there.
 */
(() => {
  'use strict';

  const CSRF_HEADER = 'X-Yishi-CSRF';

  class ApiError extends Error {
    constructor(status, code, detail, body) {
      super(detail);
      this.status = status;
      this.code = code;
      this.detail = detail;
      this.body = body || {};
    }
  }

  /**
   * options: timeoutMs; networkText (no answer at all); defaultDetail(status) (an error without
   * a `detail`); onUnauthorized(path, opts) (optional, called on a 401 before the error is thrown).
   * Returns api(method, path, body, opts).
   */
  function createApi(options) {
    return async function api(method, path, body, opts = {}) {
      const headers = { Accept: 'application/json' };
      const init = { method, credentials: 'same-origin', headers, cache: 'no-store' };
      if (method !== 'GET') headers[CSRF_HEADER] = '1';
      if (body !== undefined) {
        headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
      const ctrl = new AbortController();
      init.signal = ctrl.signal;
      const timer = window.setTimeout(() => ctrl.abort(), options.timeoutMs);
      let response;
      try {
        response = await fetch(path, init);
      } catch (_) {
        throw new ApiError(0, 'network', options.networkText);
      } finally {
        window.clearTimeout(timer);
      }
      let data = null;
      try {
        data = await response.json();
      } catch (_) {
        data = null;
      }
      if (response.ok) return data && typeof data === 'object' ? data : {};
      const code = data && typeof data.error === 'string' ? data.error : `http_${response.status}`;
      const detail = data && typeof data.detail === 'string' && data.detail.trim()
        ? data.detail.trim()
        : options.defaultDetail(response.status);
      if (response.status === 401 && options.onUnauthorized) options.onUnauthorized(path, opts);
      throw new ApiError(response.status, code, detail, data);
    };
  }

  /** The login form's username and password, or null after pointing the user at the empty field. */
  function loginCredentials(els) {
    const username = els.loginUsername.value.trim();
    const password = els.loginPassword.value;
    if (!username || !password) {
      els.loginError.textContent = !username ? '请输入工号或用户名。' : '请输入密码。';
      (!username ? els.loginUsername : els.loginPassword).focus();
      return null;
    }
    els.loginError.textContent = '';
    return { username, password };
  }

  window.YishiStaffApi = { ApiError, createApi, loginCredentials };
})();
