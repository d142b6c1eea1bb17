/* The WeCom sandbox's emulation of WeCom's JS-SDK (jwxwork): wx.agentConfig and wx.invoke.
 *
 * Served at /jssdk/jwxwork.js with the sandbox's address filled in. Each call goes to the sandbox, which checks
 * the signature as WeCom does and knows, from its own cookie, which chat the "WeCom client" has open.
 */
(function () {
  "use strict";

  var SANDBOX = "__SANDBOX_URL__";
  var token = null;
  var configured = null;

  function call(path, payload) {
    // text/plain keeps this a "simple" cross-origin request (no preflight); the cookie rides along.
    return fetch(SANDBOX + "/jssdk/api/" + path, {
      method: "POST",
      credentials: "include",
      headers: { "Content-Type": "text/plain;charset=UTF-8" },
      body: JSON.stringify(payload),
    }).then(function (response) {
      return response.json();
    });
  }

  function agentConfig(options) {
    options = options || {};
    configured = call("agent_config", {
      corpid: options.corpid,
      agentid: options.agentid,
      timestamp: options.timestamp,
      nonceStr: options.nonceStr,
      signature: options.signature,
      jsApiList: options.jsApiList || [],
      url: window.location.href.split("#")[0],
    })
      .catch(function () {
        return { errMsg: "agentConfig:fail network error" };
      })
      .then(function (result) {
        token = result.errMsg === "agentConfig:ok" ? result.token : null;
        var answer = { errMsg: result.errMsg, errCode: result.errCode };
        if (token && options.success) {
          options.success(answer);
        } else if (!token && options.fail) {
          options.fail(answer);
        }
        if (options.complete) {
          options.complete(answer);
        }
      });
  }

  function invoke(api, args, callback) {
    (configured || Promise.resolve())
      .then(function () {
        if (!token) {
          return { err_msg: api + ":fail no permission" };
        }
        return call("invoke", { token: token, api: api, args: args || {} });
      })
      .catch(function () {
        return { err_msg: api + ":fail network error" };
      })
      .then(function (result) {
        if (callback) {
          callback(result);
        }
      });
  }

  var wx = {
    agentConfig: agentConfig,
    invoke: invoke,
    config: function () {},
    ready: function (callback) {
      if (callback) {
        callback();
      }
    },
    error: function () {},
  };
  window.wx = window.jWeixin = wx;
})();
