// The interactive part of viz.page's HTML: hover a node for its numbers, click one for its
// paths to the loss, and step through the backward pass. Plain DOM, no library, nothing
// fetched. The graph's data is the JSON in #graph-data; its contract is in viz/graph.py.
"use strict";
(function () {
  const data = JSON.parse(document.getElementById("graph-data").textContent);
  const picture = document.getElementById("picture");
  const svg = picture.querySelector("svg");
  const tip = document.getElementById("tooltip");
  const rule = document.getElementById("rule");
  const slider = document.getElementById("slider");
  const button = (id) => document.getElementById(id);

  // --- the SVG's pieces, by node key ------------------------------------------------
  // A node key may be drawn by several SVG nodes (a parameter: a stand-in per step), so
  // every lookup goes through data.svg; SVG nodes not in it (the legend) are left alone.
  const groups = {};                     // key -> [<g>, ...]
  const keyOf = new Map();               // <g> -> key
  const looks = new Map();               // <g> -> its static fills, to restore
  for (const g of svg.querySelectorAll("g.node")) {
    const key = data.svg[g.id];
    if (key === undefined || !(key in data.nodes)) continue;
    (groups[key] = groups[key] || []).push(g);
    keyOf.set(g, key);
    const shape = g.querySelector("polygon, path, ellipse");   // the first: the node's outline
    const texts = [...g.querySelectorAll("text")].map((t) => [t, t.getAttribute("fill")]);
    looks.set(g, { shape, fill: shape && shape.getAttribute("fill"), texts });
  }
  // Edges by their ends' keys; Graphviz titles each edge "tail->head" (SVG node ids).
  const edges = [];                      // [<g>, tail key, head key]
  for (const g of svg.querySelectorAll("g.edge")) {
    const title = g.querySelector("title");
    const ends = title ? title.textContent.split("->").map((e) => e.split(":")[0]) : [];
    const tail = data.svg[ends[0]], head = data.svg[ends[1]];
    if (tail !== undefined && head !== undefined) edges.push([g, tail, head]);
  }
  // Having read them, drop the <title>s: the browser shows them as its own tooltip ("s17").
  for (const t of svg.querySelectorAll("title")) t.remove();

  // --- numbers, as Python prints them -------------------------------------------------
  // Three significant digits; very small or large ones as 8.56e-06. A nan or inf comes as
  // a string (JSON has no such numbers), printed as it is.
  const num = (x) => (typeof x !== "number" ? String(x)
    : x === 0 || (Math.abs(x) >= 1e-3 && Math.abs(x) < 1e4) ? String(+x.toPrecision(3)) : exp(x));
  const nums = (xs, size) =>
    xs ? "[" + xs.map(num).join(", ") + (size > xs.length ? ", …" : "") + "]" : "—";
  function exp(x) {                      // like Python's f"{x:.2e}", the static picture's 1.23e-02
    if (x === null || x === undefined) return "—";
    if (typeof x !== "number") return String(x);
    const [mantissa, power] = x.toExponential(2).split("e");
    return mantissa + "e" + (power[0] === "-" ? "-" : "+") + power.replace(/^[+-]/, "").padStart(2, "0");
  }

  // --- hover: a tooltip with the node's numbers --------------------------------------
  function row(label, text, cls) {
    const div = document.createElement("div");
    if (label) div.append(label + " ");
    const span = document.createElement("span");
    span.textContent = text;             // textContent, never innerHTML: names are data
    if (cls) span.className = cls;
    div.append(span);
    return div;
  }
  function fillTip(key) {
    const n = data.nodes[key];
    const name = document.createElement("b");
    name.textContent = n.label;
    const facts = [n.op ? "op " + n.op : "leaf", n.scope ? "scope " + n.scope : "", "shape " + n.shape];
    const grad = n.grad === null || n.grad === undefined
      ? [row("", "no gradient")]
      : [row("∂L/∂" + n.label + " =", nums(n.grad, n.size), "nums"),
         row("", "‖∂L/∂" + n.label + "‖ = " + exp(n.norm), "nums")];
    tip.replaceChildren(name, row("", facts.filter(Boolean).join(" · ")),
                        row("value =", nums(n.value, n.size), "nums"), ...grad);
    if (n.rule) tip.append(row("backward:", n.rule));
  }
  function placeTip(event) {             // beside the pointer, kept inside the window
    const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 4);
    const y = Math.min(event.clientY + 14, window.innerHeight - tip.offsetHeight - 4);
    tip.style.left = Math.max(0, x) + "px";
    tip.style.top = Math.max(0, y) + "px";
  }
  for (const [g, key] of keyOf) {
    g.addEventListener("mouseenter", (e) => { fillTip(key); tip.hidden = false; placeTip(e); });
    g.addEventListener("mousemove", placeTip);
    g.addEventListener("mouseleave", () => { tip.hidden = true; });
  }

  // --- click: every path from a node to the loss ---------------------------------------
  // The paths from a node to the loss run through exactly its descendants, since every
  // node drawn leads to the loss: so highlight the node, its descendants and the edges
  // among them. Descendants come from the parents lists, read the other way round.
  const children = {};
  for (const [key, n] of Object.entries(data.nodes)) {
    for (const p of n.parents || []) (children[p] = children[p] || []).push(key);
  }
  let focused = null;
  function focus(key) {
    for (const el of svg.querySelectorAll(".on-path")) el.classList.remove("on-path");
    focused = key === focused ? null : key;          // the same node again: clear
    picture.classList.toggle("focus", focused !== null);
    if (focused === null) return;
    const on = new Set([focused]);
    const todo = [focused];
    while (todo.length) {
      for (const c of children[todo.pop()] || []) if (!on.has(c)) { on.add(c); todo.push(c); }
    }
    for (const node of on) for (const g of groups[node] || []) g.classList.add("on-path");
    for (const [g, a, b] of edges) if (on.has(a) && on.has(b)) g.classList.add("on-path");
  }
  picture.addEventListener("click", (e) => {
    const g = e.target.closest("g.node");
    focus(g && keyOf.has(g) ? keyOf.get(g) : null);  // the background (or legend): clear
  });

  // --- the stepper: the backward pass one node at a time -------------------------------
  // Position k: the first k ops of data.order have run their backward rule. They get their
  // gradient colour, the rest are white as in a forward-only picture, and order[k-1] is
  // lit. Nodes that never get a gradient keep their look throughout.
  const order = data.order;
  const rank = new Map(order.map((key, i) => [key, i]));
  // A leaf (a parameter, x_t) runs no rule: it is done when the last op reading it has run.
  for (const [op, leaves] of Object.entries(data.done || {})) {
    for (const leaf of leaves) rank.set(leaf, rank.get(op));
  }
  let k = order.length;

  function ink(colour) {                 // black or white text, whichever reads on the fill
    const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(colour);
    if (!m) return "black";
    const [r, g, b] = m.slice(1).map((h) => parseInt(h, 16) / 255);
    return 0.299 * r + 0.587 * g + 0.114 * b < 0.5 ? "white" : "black";
  }
  function paint(key, colour) {          // colour null: the static picture's own fill
    for (const g of groups[key] || []) {
      const look = looks.get(g);
      if (!look.shape) continue;
      const fill = colour || look.fill;
      if (fill === null) look.shape.removeAttribute("fill");
      else look.shape.setAttribute("fill", fill);
      for (const [text, original] of look.texts) {
        const value = colour ? ink(colour) : original;
        if (value === null) text.removeAttribute("fill");
        else text.setAttribute("fill", value);
      }
    }
  }
  function describe() {                  // the #rule line for position k
    if (!order.length) {
      return "no gradients: call loss.backward() before rendering (tinygrad-lstm render --grads)";
    }
    if (k === 0) {
      const loss = data.nodes[data.loss];
      return "before backward: no gradients yet. next ▶ seeds ∂L/∂L = 1 at the loss"
        + (loss ? ", " + loss.label : "") + ".";
    }
    const n = data.nodes[order[k - 1]];
    const line = (n.scope ? n.scope + "  " : "") + n.label + ": ∂L/∂" + n.label + " = "
      + nums(n.grad, n.size) + "  ‖·‖ = " + exp(n.norm);
    return line + " · " + (n.rule ? (n.op ? n.op + ": " : "") + n.rule : "a leaf: nothing to pass back");
  }
  function show(position, follow = true) {
    k = Math.max(0, Math.min(order.length, position));
    for (const key in groups) {
      if (!rank.has(key)) continue;
      paint(key, rank.get(key) < k ? data.nodes[key].colour || null : "#ffffff");
    }
    for (const g of svg.querySelectorAll("g.lit")) g.classList.remove("lit");
    const lit = k > 0 ? groups[order[k - 1]] || [] : [];
    for (const g of lit) g.classList.add("lit");
    // Keep the lit node in sight as the pass moves through a picture wider than the window.
    if (follow && lit.length) lit[0].scrollIntoView({ block: "nearest", inline: "nearest" });
    slider.value = k;
    button("step").textContent = k + " / " + order.length;
    rule.textContent = describe();
  }

  let timer = null;
  function play(on) {
    clearInterval(timer);
    timer = null;
    button("play").textContent = on ? "❚❚ pause" : "▶ play";
    if (!on) return;
    if (k === order.length) show(0);     // at the end: play from the start
    // A step at least 40 ms, at most 0.5 s: a whole pass takes some 15 s whatever its size.
    const delay = Math.max(40, Math.min(500, 15000 / order.length));
    timer = setInterval(() => { show(k + 1); if (k === order.length) play(false); }, delay);
  }
  const step = (position) => { play(false); show(position); };

  slider.max = order.length;
  button("first").addEventListener("click", () => step(0));
  button("prev").addEventListener("click", () => step(k - 1));
  button("next").addEventListener("click", () => step(k + 1));
  button("last").addEventListener("click", () => step(order.length));
  button("play").addEventListener("click", () => play(timer === null));
  slider.addEventListener("input", () => step(Number(slider.value)));
  document.addEventListener("keydown", (e) => {
    // The focused slider moves itself on arrow keys (and reports "input"): don't step twice.
    if (e.target === slider || e.altKey || e.ctrlKey || e.metaKey || !order.length) return;
    if (e.key === "ArrowLeft") step(k - 1);
    else if (e.key === "ArrowRight") step(k + 1);
    else return;
    e.preventDefault();                  // and don't scroll the picture as well
  });
  if (!order.length) {
    for (const id of ["first", "prev", "play", "next", "last", "slider"]) button(id).disabled = true;
  }
  show(order.length, false);             // open on the finished picture, as the static SVG
})();
