// lab slides: keyboard navigation, slide numbers, notes view, discussion reveal, code fitting.
// Plain script, no modules or network, so index.html works from file://.
(function () {
  "use strict";
  var W = 1280, H = 720, MIN_CODE_PX = 9;
  var body = document.body;
  var all = Array.prototype.slice.call(document.querySelectorAll("section.slide"));
  var params = new URLSearchParams(location.search);
  var state = {
    revealed: body.dataset.reveal === "true" || params.has("reveal"),
    notes: params.has("notes"),
    current: null,
    started: Date.now(),
  };

  function visible() {
    return all.filter(function (s) { return state.revealed || !s.classList.contains("discussion"); });
  }

  // Shrink a slide's code blocks until none is wider than its box and the slide does not overflow.
  function fit(slide) {
    var pres = Array.prototype.slice.call(slide.querySelectorAll("pre"));
    if (!pres.length) return;
    var wasShown = slide.classList.contains("current");
    if (!wasShown) slide.classList.add("measuring");
    pres.forEach(function (p) { p.style.fontSize = ""; });
    pres.forEach(function (p) {
      var size = parseFloat(getComputedStyle(p).fontSize);
      while (p.scrollWidth > p.clientWidth && size > MIN_CODE_PX) {
        size -= 0.5;
        p.style.fontSize = size + "px";
      }
    });
    var content = slide.querySelector(".content");
    for (var guard = 0; guard < 60 && content.scrollHeight > content.clientHeight; guard++) {
      var shrunk = false;
      pres.forEach(function (p) {
        var size = parseFloat(getComputedStyle(p).fontSize);
        if (size > MIN_CODE_PX) { p.style.fontSize = (size - 0.5) + "px"; shrunk = true; }
      });
      if (!shrunk) break;
    }
    if (!wasShown) slide.classList.remove("measuring");
  }

  function scale() {
    var availW = state.notes ? window.innerWidth * 0.63 : window.innerWidth;
    var s = Math.min(availW / W, window.innerHeight / H);
    document.documentElement.style.setProperty("--scale", String(s));
  }

  function numberSlides() {
    var vis = visible();
    all.forEach(function (s) { s.querySelector(".num").textContent = ""; });
    vis.forEach(function (s, i) { s.querySelector(".num").textContent = (i + 1) + " / " + vis.length; });
  }

  function show(slide) {
    var vis = visible();
    if (vis.indexOf(slide) < 0) {
      // A hidden discussion slide (e.g. from a #s12 link): land on the nearest visible one before it.
      var before = vis.filter(function (s) { return all.indexOf(s) <= all.indexOf(slide); });
      slide = before.length ? before[before.length - 1] : vis[0];
    }
    if (state.current) state.current.classList.remove("current");
    state.current = slide;
    slide.classList.add("current");
    var i = vis.indexOf(slide);
    if (history.replaceState) history.replaceState(null, "", location.pathname + location.search + "#" + slide.id);
    document.title = slide.dataset.title;
    document.getElementById("notes-text").innerHTML = slide.querySelector(".notes").innerHTML || "<p><em>(no notes)</em></p>";
    document.getElementById("next-title").textContent = i + 1 < vis.length ? vis[i + 1].dataset.title : "(end)";
    document.getElementById("position").textContent = (i + 1) + " / " + vis.length;
    try { localStorage.setItem("lab-slides-current", slide.id); } catch (e) { /* file:// may refuse */ }
  }

  function go(delta) {
    var vis = visible();
    var i = vis.indexOf(state.current);
    show(vis[Math.max(0, Math.min(vis.length - 1, i + delta))]);
  }

  function setRevealed(on) {
    state.revealed = on;
    body.classList.toggle("revealed", on);
    numberSlides();
    show(state.current);
  }

  function setNotes(on) {
    state.notes = on;
    body.classList.toggle("notes-view", on);
    scale();
  }

  document.addEventListener("keydown", function (e) {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    var help = document.getElementById("help");
    switch (e.key) {
      case "ArrowRight": case "ArrowDown": case "PageDown": case "Enter": go(1); break;
      case " ": go(e.shiftKey ? -1 : 1); break;
      case "ArrowLeft": case "ArrowUp": case "PageUp": case "Backspace": go(-1); break;
      case "Home": show(visible()[0]); break;
      case "End": var v = visible(); show(v[v.length - 1]); break;
      case "n": case "N": setNotes(!state.notes); break;
      case "r": case "R": setRevealed(!state.revealed); break;
      case "p": case "P": window.print(); break;
      case "?": help.hidden = !help.hidden; break;
      case "Escape": help.hidden = true; break;
      default: return;
    }
    e.preventDefault();
  });

  // A second window (e.g. the notes view on the laptop screen) follows the first.
  window.addEventListener("storage", function (e) {
    if (e.key !== "lab-slides-current" || !e.newValue) return;
    var s = document.getElementById(e.newValue);
    if (s && s !== state.current) show(s);
  });
  window.addEventListener("resize", scale);
  window.addEventListener("hashchange", function () {
    var s = document.getElementById(location.hash.slice(1));
    if (s && s !== state.current) show(s);
  });
  window.addEventListener("beforeprint", function () { all.forEach(fit); });

  body.classList.toggle("revealed", state.revealed);
  body.classList.toggle("notes-view", state.notes);
  scale();
  all.forEach(fit);
  numberSlides();
  var start = document.getElementById(location.hash.slice(1));
  show(start && start.classList.contains("slide") ? start : visible()[0]);
  setInterval(function () {
    var s = Math.floor((Date.now() - state.started) / 1000);
    document.getElementById("elapsed").textContent = Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }, 1000);

  // For the instructor's console and the browser test.
  window.deck = {
    total: all.length,
    visibleCount: function () { return visible().length; },
    index: function () { return visible().indexOf(state.current); },
    current: function () { return state.current; },
    revealed: function () { return state.revealed; },
    notes: function () { return state.notes; },
    go: function (id) { show(document.getElementById(id)); },
    ready: true,
  };
})();
