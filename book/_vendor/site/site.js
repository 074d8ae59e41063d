// Site-level fixes, loaded on every page (see _config.yml; checked by tests/site/).
(function () {
  "use strict";

  function sectionTitle(el) {
    var section = el.closest("section");
    var heading = section && section.querySelector("h1, h2, h3, h4");
    return heading ? heading.textContent.replace(/#\s*$/, "").trim() : document.title;
  }

  // The explorers' widgets, drawn by the ipywidgets manager from the saved state, come without
  // text alternatives: their picture has no alt, their sliders and menus no name. Name them
  // from the section they illustrate and from the widget's own label.
  function nameWidgets() {
    document.querySelectorAll(".jupyter-widgets img:not([alt])").forEach(function (img) {
      img.alt = "Explorer for “" + sectionTitle(img) + "”, as last drawn; in a running notebook " +
        "it redraws when its controls move.";
    });
    var controls = "[role=slider], select, input, textarea, button";
    document.querySelectorAll(".jupyter-widgets .widget-inline-hbox").forEach(function (box) {
      var label = box.querySelector(".widget-label");
      var name = label && label.textContent.trim();
      box.querySelectorAll(controls).forEach(function (control) {
        if (!control.getAttribute("aria-label") && !control.getAttribute("aria-labelledby")) {
          control.setAttribute("aria-label", name || control.getAttribute("title") || "control");
        }
      });
    });
  }

  // A display equation wider than the text column scrolls sideways. Down to MIN of its size, it
  // is shrunk to fit instead (marked data-shrunk, so the tests can list it); wider ones keep
  // their scrollbar and should be split in the source.
  var MIN = 0.7;
  function fitEquations() {
    document.querySelectorAll('mjx-container[display="true"]').forEach(function (eq) {
      if (eq.dataset.fontSize === undefined) eq.dataset.fontSize = eq.style.fontSize || "";
      eq.style.fontSize = eq.dataset.fontSize;
      eq.removeAttribute("data-shrunk");
      var math = eq.querySelector("mjx-math");
      var room = eq.clientWidth, need = math ? math.getBoundingClientRect().width : eq.scrollWidth;
      if (!room || need <= room + 1) return;
      var scale = (room - 2) / need;
      if (scale < MIN) return;
      var size = parseFloat(getComputedStyle(eq).fontSize);
      eq.style.fontSize = (size * scale).toFixed(2) + "px";
      eq.setAttribute("data-shrunk", Math.round(scale * 100) + "%");
    });
  }

  // The widgets typeset their labels with MathJax 2's API (MathJax.Hub.Queue); the site serves
  // MathJax 3, which has no Hub, so each widget with a label threw. Give MathJax 3 that one call.
  // Before MathJax loads, window.MathJax is its configuration: hook its startup.
  function typesetLater() {
    for (var i = 0; i < arguments.length; i++) {
      var item = arguments[i];
      if (Array.isArray(item) && item[0] === "Typeset" && window.MathJax.typesetPromise) {
        window.MathJax.typesetPromise(item[2] ? [item[2]] : undefined).catch(function () {});
      } else if (typeof item === "function") {
        item();
      }
    }
  }
  if (window.MathJax && !window.MathJax.version) {
    var config = window.MathJax;
    config.startup = config.startup || {};
    var ready = config.startup.ready;
    config.startup.ready = function () {
      if (ready) ready(); else window.MathJax.startup.defaultReady();
      if (!window.MathJax.Hub) window.MathJax.Hub = { Queue: typesetLater };
    };
  }

  function whenReady() {
    nameWidgets();
    new MutationObserver(nameWidgets).observe(document.body, { childList: true, subtree: true });
    // MathJax loads asynchronously: by the load event it has started, and its promise says
    // when the first typesetting is done.
    window.addEventListener("load", function () {
      if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) return;
      MathJax.startup.promise.then(fitEquations);
      var timer;
      window.addEventListener("resize", function () { clearTimeout(timer); timer = setTimeout(fitEquations, 100); });
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", whenReady);
  else whenReady();
})();
