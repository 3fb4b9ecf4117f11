/*
 * Drydock browser terminal client.
 *
 * Loaded on every page (<script defer src="/terminal.js">). It stays idle until
 * an element <div class="terminal" data-terminal="LAB_SESSION_ID"> appears,
 * then lazy-loads xterm.js from /vendor/xterm/ (UMD builds that define
 * window.Terminal and window.FitAddon, copied there by scripts/vendor-js.sh)
 * and connects the element to /api/v1/labs/<id>/terminal over a WebSocket.
 *
 * Wire protocol (see the server):
 *   server -> client  binary: raw terminal output (a replay of recent output
 *                     comes first on every new connection)
 *                     text:   JSON {"type":"ended"|"exited"|"error","message":"..."}
 *   client -> server  binary: keystrokes / pastes as UTF-8 bytes
 *                     text:   JSON {"type":"resize","cols":C,"rows":R}
 *   close codes 4403 / 4404: not allowed / no such lab -> no reconnect.
 *
 * Each terminal element gets data-state = connecting | connected |
 * reconnecting | ended | refused, and a child
 * <div class="terminal-status" role="status" aria-live="polite"> with a
 * human-readable line. Tests can use window.drydockTerminal.
 */
(() => {
  'use strict';

  // Keep in step with package.json; used only to bust browser caches.
  const XTERM_VERSION = '6.0.0';
  const VENDOR = '/vendor/xterm/';

  const BACKOFF_START_MS = 1000;
  const BACKOFF_MAX_MS = 10000;
  const MAX_FAILED_OPENS = 3; // consecutive sockets that never opened -> refused
  const RESIZE_DEBOUNCE_MS = 100;
  const HINT_MS = 3000;

  const encoder = new TextEncoder();

  /** Live sessions, keyed by their terminal element. */
  const sessions = new Map();
  /** The session whose terminal was focused most recently. */
  let lastFocused = null;

  // ---------------------------------------------------------------------
  // Lazy loading of xterm.js
  // ---------------------------------------------------------------------

  let xtermPromise = null;

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = () => resolve();
      s.onerror = () => reject(new Error('could not load ' + src));
      document.head.appendChild(s);
    });
  }

  function loadStylesheet(href) {
    return new Promise((resolve, reject) => {
      const link = document.createElement('link');
      link.rel = 'stylesheet';
      link.href = href;
      link.onload = () => resolve();
      link.onerror = () => reject(new Error('could not load ' + href));
      document.head.appendChild(link);
    });
  }

  /** Resolves to { Terminal, FitAddon } once xterm's files are loaded. */
  function loadXterm() {
    if (!xtermPromise) {
      const q = '?v=' + XTERM_VERSION;
      xtermPromise = Promise.all([
        // The stylesheet must be in place before Terminal.open() measures cells.
        loadStylesheet(VENDOR + 'xterm.css' + q),
        loadScript(VENDOR + 'xterm.js' + q),
        loadScript(VENDOR + 'addon-fit.js' + q),
      ]).then(() => {
        const Terminal = window.Terminal;
        const FitAddon = window.FitAddon && window.FitAddon.FitAddon;
        if (typeof Terminal !== 'function' || typeof FitAddon !== 'function') {
          throw new Error('xterm.js did not define its globals');
        }
        return { Terminal, FitAddon };
      });
      // Allow a later attempt after a failure (e.g. a network hiccup).
      xtermPromise.catch(() => { xtermPromise = null; });
    }
    return xtermPromise;
  }

  // ---------------------------------------------------------------------
  // Helpers
  // ---------------------------------------------------------------------

  function socketUrl(id, path) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    // A read-only shadow names its own socket path (same origin only).
    if (path && path.startsWith('/api/')) return scheme + '//' + location.host + path;
    return scheme + '//' + location.host + '/api/v1/labs/' + encodeURIComponent(id) + '/terminal';
  }

  /** The letter of a key event, independent of Shift and of non-Latin layouts. */
  function keyLetter(ev) {
    if (ev.key && ev.key.length === 1 && /[a-z]/i.test(ev.key)) return ev.key.toLowerCase();
    const m = /^Key([A-Z])$/.exec(ev.code || '');
    return m ? m[1].toLowerCase() : '';
  }

  /** onBinary strings carry one byte per UTF-16 code unit. */
  function binaryStringToBytes(s) {
    const bytes = new Uint8Array(s.length);
    for (let i = 0; i < s.length; i++) bytes[i] = s.charCodeAt(i) & 0xff;
    return bytes;
  }

  const TERMINAL_OPTIONS = {
    cursorBlink: true,
    fontSize: 14,
    fontFamily: 'ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", "Cascadia Mono", ' +
      'Menlo, Consolas, "Liberation Mono", monospace',
    scrollback: 5000,
    convertEol: false,
    theme: {
      background: '#15181d',
      foreground: '#d9dee7',
      cursor: '#f2c66d',
      cursorAccent: '#15181d',
      selectionBackground: 'rgba(110, 150, 210, 0.40)',
      black: '#20242b',
      red: '#e06c75',
      green: '#98c379',
      yellow: '#e5c07b',
      blue: '#61afef',
      magenta: '#c678dd',
      cyan: '#56b6c2',
      white: '#d9dee7',
      brightBlack: '#5c6370',
      brightRed: '#f08a93',
      brightGreen: '#b5e08f',
      brightYellow: '#f2d59a',
      brightBlue: '#86c4f7',
      brightMagenta: '#d99cea',
      brightCyan: '#7fd0da',
      brightWhite: '#ffffff',
    },
  };

  // ---------------------------------------------------------------------
  // One terminal element <-> one xterm instance <-> one WebSocket at a time
  // ---------------------------------------------------------------------

  class Session {
    constructor(el) {
      this.el = el;
      this.id = el.dataset.terminal;
      this.path = el.dataset.terminalPath || '';
      this.readonly = el.dataset.readonly === 'true'; // an instructor watching
      this.term = null;
      this.fit = null;
      this.ws = null;
      this.state = '';
      this.disposed = false;
      this.labEnded = false;      // {"type":"ended"} seen: never reconnect
      this.refused = false;       // 4403/4404 or too many failed opens
      this.waitingForKey = false; // shell exited: reconnect on the next keypress
      this.backoff = 0;           // number of retries since the last open
      this.failedOpens = 0;       // consecutive sockets that never opened
      this.retryTimer = 0;
      this.fitTimer = 0;
      this.resizeObserver = null;
      this.cleanups = [];

      // Our own children: a status line and the box xterm renders into.
      this.status = document.createElement('div');
      this.status.className = 'terminal-status';
      this.status.setAttribute('role', 'status');
      this.status.setAttribute('aria-live', 'polite');
      this.screen = document.createElement('div');
      this.screen.className = 'terminal-screen';
      el.append(this.status, this.screen);

      this.setState('connecting', 'Connecting…');
      this.start().catch((err) => {
        console.error('drydock terminal:', err);
        if (!this.disposed) this.refuse('The terminal could not be started.');
      });
    }

    async start() {
      let xterm;
      try {
        xterm = await loadXterm();
      } catch (err) {
        if (!this.disposed) {
          console.error('drydock terminal:', err);
          this.refuse('The terminal could not be loaded. Reload the page to try again.');
        }
        return;
      }
      if (this.disposed) return;

      const term = new xterm.Terminal(TERMINAL_OPTIONS);
      const fit = new xterm.FitAddon();
      term.loadAddon(fit);
      term.open(this.screen);
      this.term = term;
      this.fit = fit;

      term.attachCustomKeyEventHandler((ev) => this.handleKey(ev));
      term.onData((data) => this.input(encoder.encode(data)));
      term.onBinary((data) => this.input(binaryStringToBytes(data)));
      term.onResize(({ cols, rows }) => this.sendResize(cols, rows));

      // Refit when the element or the window changes size, or fonts arrive.
      this.resizeObserver = new ResizeObserver(() => this.scheduleFit());
      this.resizeObserver.observe(this.el);
      const onWindowResize = () => this.scheduleFit();
      window.addEventListener('resize', onWindowResize);
      this.cleanups.push(() => window.removeEventListener('resize', onWindowResize));
      if (document.fonts && document.fonts.ready) {
        document.fonts.ready.then(() => this.scheduleFit());
      }

      const onFocus = () => { lastFocused = this; };
      this.el.addEventListener('focusin', onFocus);
      this.cleanups.push(() => this.el.removeEventListener('focusin', onFocus));

      this.doFit();
      this.connect();
    }

    // --- state ----------------------------------------------------------

    /**
     * state: connecting | connected | reconnecting | ended | refused.
     * When state is "ended", data-ended says why: "lab" (stopped or expired,
     * final) or "shell" (the shell exited; a keypress starts a new one).
     */
    setState(state, message, ended) {
      this.state = state;
      this.el.dataset.state = state;
      if (state === 'ended') this.el.dataset.ended = ended;
      else delete this.el.dataset.ended;
      this.setStatus(message);
    }

    setStatus(message) {
      // Only touch the live region when the text changes, so screen readers
      // are not told the same thing twice.
      if (this.status.textContent !== message) this.status.textContent = message;
    }

    /** Writes a dim notice line into the terminal itself. */
    notice(text) {
      if (this.term) this.term.write('\r\n\x1b[2m' + text.replace(/\r?\n/g, '\r\n') + '\x1b[0m\r\n');
    }

    isConnected() {
      return !this.disposed && this.ws !== null && this.ws.readyState === WebSocket.OPEN &&
        this.state === 'connected';
    }

    // --- socket ---------------------------------------------------------

    connect() {
      if (this.disposed || this.labEnded || this.refused) return;
      clearTimeout(this.retryTimer);
      this.retryTimer = 0;
      this.closeSocket();

      const ws = new WebSocket(socketUrl(this.id, this.path));
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      let opened = false;

      ws.onopen = () => {
        if (this.ws !== ws) return;
        opened = true;
        this.backoff = 0;
        this.failedOpens = 0;
        this.waitingForKey = false;
        // The server replays recent output first: start from a clean screen.
        this.term.reset();
        this.setState('connected', 'Connected');
        this.doFit();
        this.sendResize(this.term.cols, this.term.rows);
      };

      ws.onmessage = (ev) => {
        if (this.ws !== ws) return;
        if (typeof ev.data === 'string') this.control(ev.data);
        else this.term.write(new Uint8Array(ev.data));
      };

      ws.onclose = (ev) => {
        if (this.ws !== ws) return; // a socket we replaced or closed on purpose
        this.ws = null;
        if (this.disposed || this.labEnded) return;

        if (ev.code === 4403 || ev.code === 4404) {
          this.refuse(ev.reason);
          return;
        }
        if (this.waitingForKey) return; // the next keypress reconnects
        if (!opened && navigator.onLine !== false) {
          this.failedOpens += 1;
          if (this.failedOpens >= MAX_FAILED_OPENS) {
            this.refuse(ev.reason);
            return;
          }
        }
        this.scheduleReconnect();
      };
      // Errors are always followed by a close event; nothing to do here.
      ws.onerror = () => {};
    }

    /** Closes the current socket without triggering a reconnect. */
    closeSocket() {
      const ws = this.ws;
      this.ws = null; // onclose ignores sockets that are no longer current
      if (ws && (ws.readyState === WebSocket.CONNECTING || ws.readyState === WebSocket.OPEN)) {
        try { ws.close(1000); } catch (_) { /* already closing */ }
      }
    }

    scheduleReconnect() {
      const delay = Math.min(BACKOFF_START_MS * 2 ** this.backoff, BACKOFF_MAX_MS);
      this.backoff += 1;
      const seconds = Math.round(delay / 1000);
      const why = navigator.onLine === false ? 'You are offline' : 'Connection lost';
      this.setState('reconnecting', `${why} — reconnecting in ${seconds} s…`);
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = 0;
        this.setStatus('Reconnecting…');
        this.connect();
      }, delay);
    }

    /** Called when the browser comes back online. */
    retryNow() {
      if (this.retryTimer) {
        this.setStatus('Reconnecting…');
        this.connect();
      }
    }

    refuse(reason) {
      this.refused = true;
      clearTimeout(this.retryTimer);
      this.retryTimer = 0;
      this.closeSocket();
      this.setState('refused', reason || 'You cannot open this terminal.');
    }

    /** Handles a JSON control message from the server. */
    control(text) {
      let msg;
      try { msg = JSON.parse(text); } catch (_) { return; }
      if (!msg || typeof msg !== 'object') return;
      const message = typeof msg.message === 'string' ? msg.message : '';

      switch (msg.type) {
        case 'ended': {
          this.labEnded = true;
          clearTimeout(this.retryTimer);
          this.retryTimer = 0;
          const text = message || 'The lab has ended.';
          this.setState('ended', text, 'lab');
          this.notice(text);
          this.closeSocket();
          break;
        }
        case 'exited': {
          // The server starts a new shell on the next connection; wait for
          // the learner to ask for it rather than reconnecting by ourselves.
          this.waitingForKey = true;
          const text = (message || 'The shell has exited.') + ' Press Enter to start a new shell.';
          this.setState('ended', text, 'shell');
          this.notice(text);
          break;
        }
        case 'error':
          if (message) this.setStatus(message);
          break;
        case 'watched': {
          // The learner is told whenever an instructor watches (read-only).
          const watching = Number(msg.watchers) > 0;
          this.el.dataset.watched = watching ? 'true' : 'false';
          if (!this.readonly) {
            this.setStatus(watching
              ? 'Your instructor is watching this terminal (read-only).'
              : 'Connected');
          }
          break;
        }
        default:
          break; // unknown messages are ignored so the server can add more
      }
    }

    // --- input / output ---------------------------------------------------

    /** Keystrokes and pastes from xterm. */
    input(bytes) {
      if (this.readonly) return; // watching only: nothing is typed into a learner's shell
      if (bytes.length === 0) return; // e.g. pasting an empty clipboard
      if (this.waitingForKey) {
        // Any key starts a new shell; the key itself is not sent.
        this.waitingForKey = false;
        this.setState('connecting', 'Starting a new shell…');
        this.connect();
        return;
      }
      this.sendBytes(bytes);
    }

    sendBytes(bytes) {
      if (!this.isConnected()) return false;
      this.ws.send(bytes);
      return true;
    }

    sendResize(cols, rows) {
      if (this.readonly || !this.isConnected()) return;
      this.ws.send(JSON.stringify({ type: 'resize', cols, rows }));
    }

    /** Copy/paste shortcuts; returns false for keys xterm must not handle. */
    handleKey(ev) {
      const letter = keyLetter(ev);
      const onlyCtrlShift = ev.ctrlKey && ev.shiftKey && !ev.altKey && !ev.metaKey;
      const onlyCtrl = ev.ctrlKey && !ev.shiftKey && !ev.altKey && !ev.metaKey;
      const onlyShift = ev.shiftKey && !ev.ctrlKey && !ev.altKey && !ev.metaKey;

      // Ctrl+Shift+C / Ctrl+Insert: copy the selection.
      if ((onlyCtrlShift && letter === 'c') || (onlyCtrl && ev.key === 'Insert')) {
        if (ev.type === 'keydown') {
          ev.preventDefault(); // Ctrl+Shift+C would open the element inspector
          if (this.term.hasSelection() && navigator.clipboard && navigator.clipboard.writeText) {
            navigator.clipboard.writeText(this.term.getSelection()).catch(() => {});
          }
        }
        return false;
      }
      // Ctrl+Shift+V / Shift+Insert: let the browser fire its paste event on
      // xterm's textarea (xterm pastes it, bracketed when the shell asks), and
      // keep xterm from sending ^V / an Insert escape sequence.
      if ((onlyCtrlShift && letter === 'v') || (onlyShift && ev.key === 'Insert')) {
        return false;
      }
      return true; // everything else, including plain Ctrl+C (^C), goes to xterm
    }

    // --- sizing -----------------------------------------------------------

    scheduleFit() {
      clearTimeout(this.fitTimer);
      this.fitTimer = setTimeout(() => this.doFit(), RESIZE_DEBOUNCE_MS);
    }

    /** Fits the terminal to its box; onResize sends the new size if it changed. */
    doFit() {
      if (this.disposed || !this.fit) return;
      // A hidden element (display: none, zero size) has nothing to fit to.
      if (this.screen.clientWidth === 0 || this.screen.clientHeight === 0) return;
      try { this.fit.fit(); } catch (_) { /* not measurable yet */ }
    }

    // --- focus / teardown -------------------------------------------------

    focus() {
      this.el.scrollIntoView({ block: 'nearest' });
      if (this.term) {
        this.term.scrollToBottom();
        this.term.focus();
      }
      lastFocused = this;
    }

    dispose() {
      if (this.disposed) return;
      this.disposed = true;
      clearTimeout(this.retryTimer);
      clearTimeout(this.fitTimer);
      this.closeSocket();
      if (this.resizeObserver) this.resizeObserver.disconnect();
      for (const undo of this.cleanups) undo();
      if (this.term) this.term.dispose();
      this.status.remove();
      this.screen.remove();
      if (lastFocused === this) lastFocused = null;
    }
  }

  // ---------------------------------------------------------------------
  // Finding terminal elements as they come and go
  // ---------------------------------------------------------------------

  function scan() {
    // Drop sessions whose element left the DOM or now names another lab.
    for (const [el, session] of sessions) {
      if (!el.isConnected || el.dataset.terminal !== session.id) {
        session.dispose();
        sessions.delete(el);
      }
    }
    for (const el of document.querySelectorAll('[data-terminal]')) {
      if (!sessions.has(el) && el.dataset.terminal) sessions.set(el, new Session(el));
    }
  }

  // Coalesce mutation bursts into one scan. Mutations inside xterm's own DOM
  // (it redraws rows constantly) are ignored.
  let scanQueued = false;
  const observer = new MutationObserver((records) => {
    if (scanQueued) return;
    const relevant = records.some((r) => {
      const t = r.target;
      return !(t instanceof Element && t.closest('.xterm, .terminal-status'));
    });
    if (!relevant) return;
    scanQueued = true;
    queueMicrotask(() => { scanQueued = false; scan(); });
  });

  function init() {
    observer.observe(document.body, {
      childList: true,
      subtree: true,
      attributes: true,
      attributeFilter: ['data-terminal'],
    });
    scan();
  }

  window.addEventListener('online', () => {
    for (const session of sessions.values()) session.retryNow();
  });

  // ---------------------------------------------------------------------
  // Active terminal, "Run" buttons and the test hook
  // ---------------------------------------------------------------------

  /** The connected terminal that should receive commands, or null. */
  function activeSession() {
    const connected = [...sessions.values()].filter((s) => s.isConnected());
    if (connected.length === 0) return null;
    if (lastFocused && connected.includes(lastFocused)) return lastFocused;
    return connected[connected.length - 1];
  }

  /** Types text into the active terminal; newlines become Enter (\r). */
  function send(text) {
    const session = activeSession();
    if (!session) return false;
    return session.sendBytes(encoder.encode(String(text).replace(/\r?\n/g, '\r')));
  }

  function showRunHint(button) {
    let hint = button.nextElementSibling;
    if (!hint || !hint.classList.contains('run-hint')) {
      hint = document.createElement('span');
      hint.className = 'run-hint';
      hint.setAttribute('role', 'status');
      button.after(hint);
    }
    hint.textContent = 'Start the lab first — the Run button sends this command to its terminal.';
    clearTimeout(hint._drydockTimer);
    hint._drydockTimer = setTimeout(() => hint.remove(), HINT_MS);
  }

  document.addEventListener('click', (ev) => {
    const button = ev.target instanceof Element ? ev.target.closest('.run-in-terminal') : null;
    if (!button) return;
    const holder = button.closest('[data-command]');
    if (!holder) return;
    const command = holder.dataset.command.replace(/[\r\n]+$/, '');

    const session = activeSession();
    if (session && send(command + '\n')) {
      session.focus();
    } else {
      showRunHint(button);
      document.dispatchEvent(new CustomEvent('drydock:need-lab', { bubbles: true }));
    }
  });

  window.drydockTerminal = {
    /** Types text into the active connected terminal; true if it was sent. */
    send,
    /** The number of connected terminals. */
    connected: () => [...sessions.values()].filter((s) => s.isConnected()).length,
  };

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init, { once: true });
  } else {
    init();
  }
})();
