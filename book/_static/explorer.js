/* CNN Notes: the convolution explorer (book/explorer.md). Vanilla JavaScript and SVG, no library.
 *
 * Jupyter Book injects every file of _static/ into every page, so this script does nothing
 * unless the page holds a <div class="cnn-explorer"> (optionally data-preset="mode=conv&H=5&...",
 * and data-url on the one widget whose state lives in the page's URL hash).
 *
 * The size rules and their refusal messages are those of cnnnotes/_validate.py (integer,
 * window_count, check_pool_padding) and cnnnotes/conv/shapes.py (conv_output_size,
 * pool_output_size, conv_transpose_output_size); the windows are those of
 * cnnnotes/conv/sliding.py (window_starts, uncovered). tests/test_explorer.py compares every
 * displayed size, refusal and window with those functions.
 */
(() => {
  "use strict";

  // ------------------------------------------------------------ the book's rules, one axis

  /** The first "name must be an int >= min, got v" of [value, name, min] checks, or "". */
  const intError = (checks) => {
    for (const [v, name, min] of checks) {
      if (v < min) return `${name} must be an int >= ${min}, got ${v}`;
    }
    return "";
  };

  /** Windows along one axis (PyTorch's rule, _validate.window_count), or {error}. */
  const windowCount = (n, k, s, p, d, ceil) => {
    const eff = d * (k - 1) + 1;
    const span = n + 2 * p - eff; // L in the book
    const steps = ceil ? Math.ceil(span / s) : Math.floor(span / s);
    let out = steps + 1; // W' = floor(L/S) + 1
    const first = out;
    if (ceil && (out - 1) * s >= n + p) out -= 1; // the last window must start inside
    if (out < 1) {
      const extra = ceil ? ` plus the stride-1 = ${s - 1} overhang that ceil_mode allows` : "";
      return {
        error:
          `kernel_size ${k} (dilated ${eff}) is larger than the padded input ${n + 2 * p} ` +
          `(size ${n} + 2*padding ${p})${extra}; ` +
          "the dilated kernel dilation*(kernel_size-1)+1 must fit",
        eff,
        span,
        steps,
        first,
      };
    }
    return { size: out, eff, span, steps, first };
  };

  /** conv_output_size: the checks in the same order, so the same message wins. */
  const convAxis = (n, k, s, p, d) => {
    const error = intError([
      [n, "size", 1],
      [k, "kernel_size", 1],
      [s, "stride", 1],
      [p, "padding", 0],
      [d, "dilation", 1],
    ]);
    return error ? { error } : windowCount(n, k, s, p, d, false);
  };

  /** pool_output_size (stride given): kernel, stride, padding, padding rule, size, dilation. */
  const poolAxis = (n, k, s, p, d, ceil) => {
    let error = intError([
      [k, "kernel_size", 1],
      [s, "stride", 1],
      [p, "padding", 0],
    ]);
    const half = Math.floor(k / 2);
    if (!error && p > half) {
      error =
        `padding ${p} is more than half of kernel_size ${k}; ` +
        `pooling allows padding <= kernel_size // 2 = ${half}`;
    }
    error =
      error ||
      intError([
        [n, "size", 1],
        [d, "dilation", 1],
      ]);
    if (!error) return windowCount(n, k, s, p, d, ceil);
    // refused for its padding: still count the windows, for the formula line
    const ints = intError([
      [n, "", 1],
      [k, "", 1],
      [s, "", 1],
      [p, "", 0],
      [d, "", 1],
    ]);
    return ints ? { error } : { ...windowCount(n, k, s, p, d, ceil), error };
  };

  /** conv_transpose_output_size: (W-1)S - 2P + d(F-1) + A + 1 with PyTorch's refusals. */
  const tconvAxis = (n, k, s, p, a, d) => {
    const error = intError([
      [n, "size", 1],
      [k, "kernel_size", 1],
      [s, "stride", 1],
      [p, "padding", 0],
      [a, "output_padding", 0],
      [d, "dilation", 1],
    ]);
    if (error) return { error };
    const most = Math.max(s, d);
    if (a >= most) {
      return {
        error:
          `output_padding ${a} must be smaller than stride ${s} or dilation ${d} ` +
          `(allowed: 0 <= output_padding < ${most})`,
      };
    }
    const canvas = (n - 1) * s + d * (k - 1) + 1; // rows of the uncropped scatter
    const out = canvas - 2 * p + a;
    if (out < 1) {
      return {
        error:
          "output size (size-1)*stride - 2*padding + dilation*(kernel_size-1) " +
          `+ output_padding + 1 = ${out} is too small; it must be >= 1 ` +
          `(padding ${p} is too large for size ${n}, kernel_size ${k})`,
        canvas,
      };
    }
    return { size: out, canvas };
  };

  /** Runs of consecutive ints as "0–2, 5". */
  const runs = (xs) => {
    const parts = [];
    for (let i = 0; i < xs.length; i++) {
      let j = i;
      while (j + 1 < xs.length && xs[j + 1] === xs[j] + 1) j++;
      parts.push(i === j ? `${xs[i]}` : `${xs[i]}–${xs[j]}`);
      i = j;
    }
    return parts.join(", ");
  };
  const num = (v) => (v < 0 ? `−${-v}` : `${v}`);

  /** One axis of the current setting: size or refusal, formula text, windows, unread cells. */
  const axis = (st, X) => {
    const n = X === "H" ? st.H : st.W;
    const { F: k, S: s, P: p, mode } = st;
    const d = mode === "avg" ? 1 : st.d;
    const ceil = (mode === "max" || mode === "avg") && st.ceil;
    const r =
      mode === "conv"
        ? convAxis(n, k, s, p, d)
        : mode === "tconv"
          ? tconvAxis(n, k, s, p, st.op, d)
          : poolAxis(n, k, s, p, d, ceil);
    r.n = n;
    r.X = X;
    const ok = !r.error;
    const bad = !!intError([
      [n, "", 1],
      [k, "", 1],
      [s, "", 1],
      [p, "", 0],
      [d, "", 1],
    ]);
    if (mode === "tconv") {
      r.formula = `${X}′ = (${X} − 1)·S − 2P + d·(F − 1) + A + 1`;
      if (!bad && st.op >= 0) {
        r.formula +=
          ` = (${n} − 1)·${s} − 2·${p} + ${d}·(${k} − 1) + ${st.op} + 1` +
          ` = ${num((n - 1) * s - 2 * p + d * (k - 1) + st.op + 1)}`;
      }
    } else if (!bad) {
      const L = r.span;
      const br = ceil ? ["⌈", "⌉"] : ["⌊", "⌋"];
      r.formula =
        `${X}′${ceil ? "₀" : ""} = ${br[0]}(${n} + 2·${p} − ${d}·(${k}−1) − 1)/${s}` +
        `${br[1]} + 1 = ${br[0]}${num(L)}/${s}${br[1]} + 1 = ${num(r.first)}`;
      if (ceil && r.first >= 1) {
        const last = (r.first - 1) * s;
        r.formula +=
          last >= n + p
            ? `; the last window would start at (${X}′₀−1)·S = ${last} ≥ ` +
              `${X} + P = ${n + p}, in the right padding or beyond: dropped, ` +
              `${X}′ = ${num(r.first - 1)}`
            : `; the last window starts at (${X}′₀−1)·S = ${last} < ${X} + P = ${n + p}: ` +
              `kept, ${X}′ = ${r.first}`;
      }
      if (ok) r.rem = ((L % s) + s) % s;
    } else {
      r.formula = `${X}′ = ⌊(${X} + 2P − d·(F−1) − 1)/S⌋ + 1`;
    }
    if (!ok) return r;
    r.d = d;
    r.k = k;
    r.s = s;
    r.p = p;
    const count = new Int32Array(mode === "tconv" ? r.size : n);
    if (mode === "tconv") {
      for (let i = 0; i < n; i++) {
        for (let t = 0; t < k; t++) {
          const o = i * s + t * d - p;
          if (o >= 0 && o < r.size) count[o]++;
        }
      }
    } else {
      r.frame = Math.max(n + 2 * p, (r.size - 1) * s + r.eff); // ceil_mode may overhang
      r.over = r.frame - (n + 2 * p);
      for (let i = 0; i < r.size; i++) {
        for (let t = 0; t < k; t++) {
          const c = i * s + t * d - p;
          if (c >= 0 && c < n) count[c]++;
        }
      }
    }
    r.unread = [];
    count.forEach((c, i) => {
      if (!c) r.unread.push(i);
    });
    return r;
  };

  // ------------------------------------------------------------ state and the URL

  const MODES = [
    ["conv", "convolution (nn.Conv2d)"],
    ["tconv", "transposed convolution " + "(nn.ConvTranspose2d)"],
    ["max", "max pooling (nn.MaxPool2d)"],
    ["avg", "average pooling (nn.AvgPool2d)"],
  ];
  // key, symbol, name, valid minimum, explorer maximum; the number fields go one below the
  // minimum so that a refused value (dilation 0, size 0) can be tried.
  const PARAMS = [
    ["H", "H", "input height", 1, 64],
    ["W", "W", "input width", 1, 64],
    ["F", "F", "kernel size", 1, 11],
    ["S", "S", "stride", 1, 8],
    ["P", "P", "padding", 0, 8],
    ["d", "d", "dilation", 1, 5],
    ["op", "A", "output_padding", 0, 7],
  ];
  const DEFAULT = {
    mode: "conv",
    H: 5,
    W: 5,
    F: 3,
    S: 2,
    P: 1,
    d: 1,
    op: 0,
    ceil: false,
    cip: true,
  };
  const uses = (mode, key) =>
    key === "op"
      ? mode === "tconv"
      : key === "d"
        ? mode !== "avg"
        : key === "ceil"
          ? mode === "max" || mode === "avg"
          : key === "cip"
            ? mode === "avg"
            : true;

  /** A state from "mode=conv&H=5&..." (separators & ; or space); unknown keys are ignored. */
  const parse = (text, base) => {
    const st = { ...base };
    for (const part of String(text || "")
      .replace(/^[#?]/, "")
      .split(/[&;\s]+/)) {
      const [key, value] = part.split("=");
      if (key === "mode" && MODES.some((m) => m[0] === value)) st.mode = value;
      else if (key === "ceil" || key === "cip") st[key] = value === "1" || value === "true";
      else {
        const spec = PARAMS.find((q) => q[0] === key);
        if (spec && /^-?\d+$/.test(value || "")) {
          st[key] = Math.min(spec[4], Math.max(spec[3] - 1, parseInt(value, 10)));
        }
      }
    }
    return st;
  };
  const format = (st) =>
    ["mode", ...PARAMS.map((q) => q[0]), "ceil", "cip"]
      .filter((key) => key === "mode" || uses(st.mode, key))
      .map((key) => `${key}=${typeof st[key] === "boolean" ? +st[key] : st[key]}`)
      .join("&");

  // ------------------------------------------------------------ drawing

  const U = 10; // SVG units per cell
  const rect = (x, y, w, h, cls, extra = "") =>
    `<rect x="${x * U}" y="${y * U}" width="${w * U}" height="${h * U}" class="${cls}"${extra}/>`;
  const grid = (x0, y0, rows, cols) => {
    if (rows > 120 || cols > 120) return ""; // lines would hide the cells
    let path = "";
    for (let i = 0; i <= rows; i++) path += `M${x0 * U} ${(y0 + i) * U}h${cols * U}`;
    for (let j = 0; j <= cols; j++) path += `M${(x0 + j) * U} ${y0 * U}v${rows * U}`;
    return `<path class="cx-grid" d="${path}"/>`;
  };
  /** Index labels along the top and left of a grid that starts at (x0, y0). */
  const labels = (x0, y0, rowIdx, colIdx) => {
    let out = "";
    rowIdx.forEach(([at, text]) => {
      out +=
        `<text x="${(x0 - 0.2) * U}" y="${(y0 + at + 0.7) * U}" class="cx-lab" ` +
        `text-anchor="end">${text}</text>`;
    });
    colIdx.forEach(([at, text]) => {
      out +=
        `<text x="${(x0 + at + 0.5) * U}" y="${(y0 - 0.25) * U}" class="cx-lab" ` +
        `text-anchor="middle">${text}</text>`;
    });
    return out;
  };
  /** Rectangles over runs of never-read rows (or columns) of a region. */
  const bands = (list, along, x0, y0, len) => {
    let out = "";
    for (let i = 0; i < list.length; i++) {
      let j = i;
      while (j + 1 < list.length && list[j + 1] === list[j] + 1) j++;
      out +=
        along === "row"
          ? rect(x0, y0 + list[i], len, j - i + 1, "cx-unread")
          : rect(x0 + list[i], y0, j - i + 1, len, "cx-unread");
      i = j;
    }
    return out;
  };
  const range = (n) => Array.from({ length: n }, (_, i) => [i, i]);

  // ------------------------------------------------------------ one widget

  let counter = 0;

  class Explorer {
    constructor(root) {
      this.root = root;
      this.id = `cx${++counter}`;
      this.sync = root.hasAttribute("data-url");
      const fromUrl = this.sync && location.hash.includes("=") ? location.hash : "";
      this.state = parse(fromUrl, parse(root.getAttribute("data-preset"), DEFAULT));
      this.sel = [0, 0];
      this.hover = null;
      this.build();
      this.write();
      this.update();
      if (this.sync) {
        window.addEventListener("hashchange", (e) => {
          // the new address itself: a pending rewrite may have replaced location.hash since
          const hash = new URL(e.newURL).hash;
          if (hash.includes("=")) this.set(parse(hash, this.state));
        });
      }
    }

    build() {
      const id = this.id;
      const field = ([key, sym, name, min, max]) =>
        `<div class="cx-param" data-key="${key}"><label for="${id}-${key}">` +
        `<b>${sym}</b> ${name}</label><input type="number" id="${id}-${key}" ` +
        `data-testid="num-${key}" min="${min - 1}" max="${max}" step="1" inputmode="numeric">` +
        `<input type="range" data-testid="range-${key}" min="${min}" max="${max}" step="1" ` +
        `aria-label="${sym}, ${name}"></div>`;
      const axisBox = (a) =>
        `<div class="cx-axis" data-testid="axis-${a}">` +
        `<p class="cx-formula" data-testid="formula-${a}"></p>` +
        `<p><span data-testid="size-${a}"></span> <span data-testid="rem-${a}"></span></p>` +
        `<p data-testid="unread-${a}"></p>` +
        `<p class="cx-refusal" role="alert" data-testid="refusal-${a}"></p></div>`;
      const panel = (key, title) =>
        `<figure class="cx-panel"><figcaption data-testid="cap-${key}">` +
        `${title}</figcaption><svg data-testid="svg-${key}" role="img"></svg></figure>`;
      this.root.innerHTML =
        `<form class="cx-controls" data-testid="controls"><div class="cx-row">` +
        `<label for="${id}-mode">Layer</label><select id="${id}-mode" data-testid="mode">` +
        MODES.map(([v, t]) => `<option value="${v}">${t}</option>`).join("") +
        "</select>" +
        `<label class="cx-toggle" data-key="ceil"><input type="checkbox" data-testid="ceil"> ` +
        "<code>ceil_mode</code></label>" +
        `<label class="cx-toggle" data-key="cip"><input type="checkbox" data-testid="cip"> ` +
        "<code>count_include_pad</code></label></div>" +
        `<div class="cx-params">${PARAMS.map(field).join("")}</div></form>` +
        `<p class="cx-shape" aria-live="polite"><span data-testid="shape"></span></p>` +
        `<p class="cx-general" data-testid="general"></p>` +
        `<div class="cx-axes">${axisBox("h")}${axisBox("w")}</div>` +
        `<div class="cx-panels">${panel("in", "")}${panel("k", "kernel taps")}` +
        `${panel("out", "")}</div>` +
        `<p class="cx-status" aria-live="polite" data-testid="status"></p>` +
        `<p class="cx-legend" data-testid="legend"></p>` +
        `<p class="cx-link"><a data-testid="link" href="">Link to this setting</a></p>`;
      const q = (t) => this.root.querySelector(`[data-testid="${t}"]`);
      this.q = q;
      this.svgIn = q("svg-in");
      this.svgK = q("svg-k");
      this.svgOut = q("svg-out");
      q("controls").addEventListener("submit", (e) => e.preventDefault());
      q("mode").addEventListener("change", (e) => {
        this.state.mode = e.target.value;
        this.write();
        this.update();
      });
      for (const key of ["ceil", "cip"]) {
        q(key).addEventListener("change", (e) => {
          this.state[key] = e.target.checked;
          this.update();
        });
      }
      for (const [key, , , min, max] of PARAMS) {
        const box = q(`num-${key}`);
        const slider = q(`range-${key}`);
        box.addEventListener("input", () => {
          if (!/^-?\d+$/.test(box.value)) return; // half-typed: wait
          const v = Math.min(max, Math.max(min - 1, parseInt(box.value, 10)));
          this.state[key] = v;
          slider.value = String(Math.max(min, v));
          this.update();
        });
        box.addEventListener("change", () => {
          box.value = String(this.state[key]);
        });
        slider.addEventListener("input", () => {
          this.state[key] = parseInt(slider.value, 10);
          box.value = slider.value;
          this.update();
        });
      }
      for (const svg of [this.svgIn, this.svgOut]) {
        svg.addEventListener("pointermove", (e) => this.point(svg, e, false));
        svg.addEventListener("click", (e) => this.point(svg, e, true));
        svg.addEventListener("pointerleave", () => {
          if (this.hover) {
            this.hover = null;
            this.highlight();
          }
        });
        svg.addEventListener("keydown", (e) => this.key(svg, e));
        svg.addEventListener("focus", () => this.highlight());
      }
    }

    /** Put the state into the controls (after a preset, a URL or a mode change). */
    write() {
      const st = this.state;
      this.q("mode").value = st.mode;
      this.q("ceil").checked = st.ceil;
      this.q("cip").checked = st.cip;
      for (const [key, , , min] of PARAMS) {
        this.q(`num-${key}`).value = String(st[key]);
        this.q(`range-${key}`).value = String(Math.max(min, st[key]));
      }
      this.root.querySelectorAll("[data-key]").forEach((el) => {
        el.hidden = !uses(st.mode, el.getAttribute("data-key"));
      });
    }

    set(state) {
      this.state = state;
      this.write();
      this.update();
    }

    /** Recompute and redraw everything: the per-change work measured by the tests. */
    update() {
      const t0 = performance.now();
      const st = this.state;
      const h = axis(st, "H");
      const w = axis(st, "W");
      this.h = h;
      this.w = w;
      this.ok = !h.error && !w.error;
      this.text(h, "h", "rows");
      this.text(w, "w", "columns");
      const tconv = st.mode === "tconv";
      this.q("shape").textContent = this.ok
        ? `Output ${h.size} × ${w.size} (H′ × W′) from an input of ${st.H} × ${st.W}.`
        : "PyTorch refuses this setting: no output.";
      this.q("general").textContent = tconv
        ? "Per axis: W′ = (W − 1)·S − 2P + d·(F − 1) + A + 1."
        : st.mode === "conv" || !st.ceil
          ? "Per axis: W′ = ⌊(W + 2P − d·(F − 1) − 1)/S⌋ + 1."
          : "Per axis: W′₀ = ⌈(W + 2P − d·(F − 1) − 1)/S⌉ + 1, " +
            "minus 1 if (W′₀ − 1)·S ≥ W + P.";
      this.clickable = tconv ? this.svgIn : this.svgOut;
      this.other = tconv ? this.svgOut : this.svgIn;
      this.clickable.setAttribute("tabindex", "0");
      this.other.setAttribute("tabindex", "-1"); // not a scroller Chromium would tab to
      this.svgK.setAttribute("tabindex", "-1");
      this.clickable.setAttribute(
        "aria-label",
        tconv
          ? "Input grid: arrow keys (or pointer) pick an input pixel; " +
              "the output cells it writes are highlighted"
          : "Output grid: arrow keys (or pointer) pick an output cell; " +
              "the input cells it reads are highlighted",
      );
      this.other.setAttribute("aria-label", tconv ? "Output grid" : "Padded input grid");
      this.draw();
      if (this.sync && !this.timer) {
        // at most one history entry rewrite per 150 ms: browsers throttle rapid rewrites
        this.timer = setTimeout(() => {
          this.timer = 0;
          const hash = `#${format(this.state)}`;
          if (location.hash !== hash) history.replaceState(null, "", hash);
        }, 150);
      }
      const link = this.q("link");
      link.href = this.sync
        ? `#${format(st)}`
        : `${this.root.getAttribute("data-explorer") || "explorer.html"}#${format(st)}`;
      link.textContent = this.sync ? "Link to this setting" : "Open this setting in the explorer";
      this.ms = performance.now() - t0;
      this.root.dispatchEvent(new CustomEvent("cnn-explorer-update", { detail: { ms: this.ms } }));
    }

    text(r, a, what) {
      const q = this.q;
      const mode = this.state.mode;
      q(`formula-${a}`).textContent = r.formula;
      const size = q(`size-${a}`);
      size.textContent = r.error ? `${r.X}′: refused.` : `${r.X}′ = ${r.size}.`;
      size.setAttribute("data-value", r.error ? "" : String(r.size));
      const refusal = q(`refusal-${a}`);
      refusal.textContent = r.error || "";
      refusal.hidden = !r.error;
      const rem = q(`rem-${a}`);
      rem.setAttribute("data-value", r.rem === undefined ? "" : String(r.rem));
      rem.setAttribute("data-over", r.over === undefined ? "" : String(r.over));
      if (r.error) rem.textContent = "";
      else if (mode === "tconv") {
        rem.textContent =
          `Uncropped scatter: ${r.canvas} ${what}; P = ${r.p} cropped at each ` +
          `end, A = ${this.state.op} added at the end.`;
      } else if (this.state.ceil && mode !== "conv") {
        rem.textContent =
          r.over > 0
            ? `ceil_mode keeps a partial last window: it overhangs the padded input by ${r.over}.`
            : "Every window fits: ceil_mode changes nothing here.";
      } else {
        rem.textContent =
          `Lost remainder r = ${r.span} mod ${r.s} = ${r.rem}: ` +
          (r.rem
            ? `the last ${r.rem} padded ${what} lie after the last window.`
            : `the last window ends on the last padded ${what.slice(0, -1)}.`);
      }
      const unread = q(`unread-${a}`);
      unread.setAttribute("data-value", r.error ? "" : r.unread.join(","));
      const never = mode === "tconv" ? `Output ${what} never written` : `Input ${what} never read`;
      unread.textContent = r.error
        ? ""
        : `${never}: ` + (r.unread.length ? runs(r.unread) : "none") + ".";
    }

    draw() {
      const st = this.state;
      const { h, w } = this;
      const tconv = st.mode === "tconv";
      const pool = st.mode === "max" || st.mode === "avg";
      const padText = st.mode === "max" ? "−∞" : "0";
      const kIn = pool ? "window" : "kernel";
      this.q("cap-in").textContent = tconv
        ? `input ${st.H} × ${st.W} (pick a pixel)`
        : `padded input (P = ${st.P}, padding ${padText})`;
      this.q("cap-out").textContent = tconv
        ? this.ok
          ? `output ${h.size} × ${w.size} inside the uncropped scatter`
          : "output"
        : this.ok
          ? `output ${h.size} × ${w.size} (pick a cell)`
          : "output";
      this.q("cap-k").textContent =
        `${kIn} taps (F = ${st.F}, d = ${st.mode === "avg" ? 1 : st.d})`;
      // cell size in px: one scale for all panels, smaller for big grids
      const dims = [st.H + 2 * Math.max(0, st.P), st.W + 2 * Math.max(0, st.P)];
      for (const r of [h, w]) {
        if (!r.error) dims.push(tconv ? Math.max(r.canvas, st.P + r.size) : r.frame, r.size);
      }
      const px = Math.max(3, Math.min(26, Math.floor(330 / Math.max(...dims, 1))));
      // input panel
      const svg = (el, rows, cols, body, lab) => {
        const m = lab ? 1.4 : 0.1;
        el.setAttribute(
          "viewBox",
          `${-m * U} ${-m * U} ${(cols + m + 0.1) * U} ${(rows + m + 0.1) * U}`,
        );
        el.setAttribute("width", String(Math.round((cols + m + 0.1) * px)));
        el.setAttribute("data-origin", String(m));
        el.innerHTML = `<g class="cx-base">${body}</g><g class="cx-hl"></g>`;
      };
      const small = (n) => n * px >= 11 && n <= 40;
      const n = [Math.max(1, st.H), Math.max(1, st.W)];
      if (tconv) {
        const lab = small(Math.max(...n));
        svg(
          this.svgIn,
          n[0],
          n[1],
          rect(0, 0, n[1], n[0], "cx-in") +
            grid(0, 0, n[0], n[1]) +
            (lab ? labels(0, 0, range(n[0]), range(n[1])) : ""),
          lab,
        );
        this.svgIn.setAttribute("data-rows", String(n[0]));
        this.svgIn.setAttribute("data-cols", String(n[1]));
      } else {
        const p = Math.max(0, st.P);
        const fr = [h.error ? n[0] + 2 * p : h.frame, w.error ? n[1] + 2 * p : w.frame];
        const lab = small(Math.max(...fr));
        let body =
          rect(0, 0, fr[1], fr[0], "cx-over") +
          rect(0, 0, n[1] + 2 * p, n[0] + 2 * p, "cx-pad") +
          rect(p, p, n[1], n[0], "cx-in");
        if (!h.error) body += bands(h.unread, "row", p, p, n[1]);
        if (!w.error) body += bands(w.unread, "col", p, p, n[0]);
        body += grid(0, 0, fr[0], fr[1]);
        const idx = (len) => Array.from({ length: len }, (_, i) => [i + p, i]);
        if (lab) body += labels(0, 0, idx(n[0]), idx(n[1]));
        svg(this.svgIn, fr[0], fr[1], body, lab);
        this.svgIn.setAttribute("data-rows", String(fr[0]));
        this.svgIn.setAttribute("data-cols", String(fr[1]));
      }
      // kernel panel
      const d = st.mode === "avg" ? 1 : Math.max(1, st.d);
      const k = Math.max(1, st.F);
      const eff = d * (k - 1) + 1;
      let kb = rect(0, 0, eff, eff, "cx-gap");
      for (let u = 0; u < k; u++) {
        for (let v = 0; v < k; v++) kb += rect(v * d, u * d, 1, 1, "cx-tap");
      }
      svg(this.svgK, eff, eff, kb + grid(0, 0, eff, eff), false);
      // output panel
      if (!this.ok) {
        svg(
          this.svgOut,
          1,
          1,
          `<text x="${U / 2}" y="${U * 0.7}" class="cx-lab" ` + 'text-anchor="middle">–</text>',
          false,
        );
        this.svgOut.setAttribute("data-rows", "0");
        this.svgOut.setAttribute("data-cols", "0");
      } else if (tconv) {
        const p = st.P;
        const fr = [Math.max(h.canvas, p + h.size), Math.max(w.canvas, p + w.size)];
        const lab = small(Math.max(...fr));
        let body =
          rect(0, 0, fr[1], fr[0], "cx-crop") +
          rect(p, p, w.size, h.size, "cx-in") +
          bands(h.unread, "row", p, p, w.size) +
          bands(w.unread, "col", p, p, h.size) +
          grid(0, 0, fr[0], fr[1]);
        if (lab) {
          body += labels(
            0,
            0,
            range(h.size).map(([i]) => [i + p, i]),
            range(w.size).map(([i]) => [i + p, i]),
          );
        }
        svg(this.svgOut, fr[0], fr[1], body, lab);
        this.svgOut.setAttribute("data-rows", String(h.size));
        this.svgOut.setAttribute("data-cols", String(w.size));
      } else {
        const lab = small(Math.max(h.size, w.size, h.frame, w.frame));
        svg(
          this.svgOut,
          h.size,
          w.size,
          rect(0, 0, w.size, h.size, "cx-in") +
            grid(0, 0, h.size, w.size) +
            (lab ? labels(0, 0, range(h.size), range(w.size)) : ""),
          lab,
        );
        this.svgOut.setAttribute("data-rows", String(h.size));
        this.svgOut.setAttribute("data-cols", String(w.size));
      }
      this.q("legend").innerHTML = this.legend();
      const [R, C] = this.dims();
      this.sel = [
        Math.min(this.sel[0], Math.max(0, R - 1)),
        Math.min(this.sel[1], Math.max(0, C - 1)),
      ];
      this.hover = null;
      this.highlight();
    }

    legend() {
      const sw = (cls, text) => `<span class="cx-sw ${cls}"></span>${text}`;
      const st = this.state;
      const tconv = st.mode === "tconv";
      return [
        tconv
          ? sw("cx-crop", "cropped by P")
          : sw("cx-pad", `padding (${st.mode === "max" ? "−∞" : "0"})`),
        sw("cx-in", tconv ? "output" : "input"),
        sw("cx-unread", tconv ? "never written" : "never read"),
        sw("cx-tap", tconv ? "written by the picked pixel" : "read by the picked cell"),
        tconv ? sw("cx-tap-crop", "written, then cropped") : sw("cx-tap-pad", "tap on padding"),
        tconv || !st.ceil || st.mode === "conv" ? "" : sw("cx-over", "beyond the padded input"),
      ]
        .filter(Boolean)
        .join(" ");
    }

    /** Rows and columns of the clickable grid (output; input for transposed). */
    dims() {
      if (!this.ok) return [0, 0];
      return this.state.mode === "tconv"
        ? [this.state.H, this.state.W]
        : [this.h.size, this.w.size];
    }

    point(svg, e, pick) {
      if (svg !== this.clickable || !this.ok) return;
      const at = `${e.clientX},${e.clientY}`;
      if (!pick && at === this.at) return; // a redraw under a still pointer is no move
      this.at = at;
      const [R, C] = this.dims();
      const box = svg.getBoundingClientRect();
      const vb = svg.viewBox.baseVal;
      const x = (((e.clientX - box.left) / box.width) * vb.width) / U + vb.x / U;
      const y = (((e.clientY - box.top) / box.height) * vb.height) / U + vb.y / U;
      const cell = [Math.floor(y), Math.floor(x)];
      if (cell[0] < 0 || cell[1] < 0 || cell[0] >= R || cell[1] >= C) return;
      if (pick) {
        this.sel = cell;
        this.hover = null;
      } else if (this.hover && this.hover[0] === cell[0] && this.hover[1] === cell[1]) return;
      else this.hover = cell;
      this.highlight();
    }

    key(svg, e) {
      if (svg !== this.clickable || !this.ok) return;
      const [R, C] = this.dims();
      const move = {
        ArrowUp: [-1, 0],
        ArrowDown: [1, 0],
        ArrowLeft: [0, -1],
        ArrowRight: [0, 1],
        Home: [0, -C],
        End: [0, C],
        PageUp: [-R, 0],
        PageDown: [R, 0],
      }[e.key];
      if (!move && e.key !== "Enter" && e.key !== " ") return;
      e.preventDefault();
      if (move) {
        this.sel = [
          Math.min(R - 1, Math.max(0, this.sel[0] + move[0])),
          Math.min(C - 1, Math.max(0, this.sel[1] + move[1])),
        ];
      }
      this.hover = null;
      this.highlight();
    }

    /** Draw the picked cell and what it reads (or, transposed, writes); describe it. */
    highlight() {
      const status = this.q("status");
      const hlIn = this.svgIn.lastChild;
      const hlOut = this.svgOut.lastChild;
      if (!this.ok) {
        hlIn.innerHTML = "";
        hlOut.innerHTML = "";
        status.textContent = "";
        return;
      }
      const [i, j] = this.hover || this.sel;
      const st = this.state;
      const { h, w } = this;
      const taps = (r, a) => Array.from({ length: r.k }, (_, t) => a + t * r.d);
      const cls = (ok) => (ok ? "cx-tap" : "cx-tap-crop");
      let picked = rect(j, i, 1, 1, "cx-sel", ` data-testid="picked" data-r="${i}" data-c="${j}"`);
      let marks = "";
      if (st.mode === "tconv") {
        const rows = taps(h, i * h.s - h.p);
        const cols = taps(w, j * w.s - w.p);
        let inside = 0;
        for (const r of rows) {
          for (const c of cols) {
            const ok = r >= 0 && r < h.size && c >= 0 && c < w.size;
            inside += ok;
            marks += rect(c + w.p, r + h.p, 1, 1, cls(ok), ` data-r="${r}" data-c="${c}"`);
          }
        }
        hlIn.innerHTML = picked;
        hlOut.innerHTML = marks;
        const span = (xs) => `${num(xs[0])} to ${num(xs[xs.length - 1])}`;
        status.textContent =
          `Input pixel (${i}, ${j}) writes its value times the ` +
          `${h.k} × ${w.k} kernel to output rows ${span(rows)} and columns ${span(cols)}, ` +
          `every d = ${h.d}: ${inside} of these ${rows.length * cols.length} cells are inside ` +
          "the output, the others are cropped.";
        this.q("status").setAttribute("data-divisor", "");
        return;
      }
      const a = i * h.s;
      const b = j * w.s;
      const rows = taps(h, a);
      const cols = taps(w, b);
      const inR = (r) => r >= h.p && r < h.p + h.n;
      const inC = (c) => c >= w.p && c < w.p + w.n;
      const padR = (r) => r < h.n + 2 * h.p;
      const padC = (c) => c < w.n + 2 * w.p;
      let real = 0;
      for (const r of rows) {
        for (const c of cols) {
          const where =
            inR(r) && inC(c) ? "cx-tap" : padR(r) && padC(c) ? "cx-tap-pad" : "cx-tap-over";
          real += where === "cx-tap";
          marks += rect(c, r, 1, 1, where, ` data-r="${r}" data-c="${c}"`);
        }
      }
      marks += rect(b, a, w.eff, h.eff, "cx-window");
      hlIn.innerHTML = marks;
      hlOut.innerHTML = picked;
      const inputRows = rows.filter(inR).map((r) => r - h.p);
      const inputCols = cols.filter(inC).map((c) => c - w.p);
      let text =
        `Output cell (${i}, ${j}): window at padded rows ${runs(rows)}, columns ` +
        `${runs(cols)}; it reads input rows ${runs(inputRows) || "none"} and columns ` +
        `${runs(inputCols) || "none"} (${real} input cells).`;
      let divisor = "";
      if (st.mode === "avg") {
        // PyTorch: the window clipped to the padded input when count_include_pad, else real cells
        const clip = (r, start) => Math.min(start + r.k, r.n + 2 * r.p) - start;
        divisor = String(st.cip ? clip(h, a) * clip(w, b) : real);
        text +=
          ` avg_pool2d divides by ${divisor}` +
          (st.cip ? " (count_include_pad: the padding zeros count)." : " (real cells only).");
      } else if (st.mode === "max") {
        text += " Padding is −∞, so it never wins.";
      }
      status.setAttribute("data-divisor", divisor);
      status.textContent = text;
    }
  }

  const start = () => {
    const roots = document.querySelectorAll(".cnn-explorer");
    if (!roots.length) return; // inert on every other page
    const instances = Array.from(roots, (root) => new Explorer(root));
    window.cnnExplorer = { instances, parse, format };
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start, { once: true });
  } else {
    start();
  }
})();
