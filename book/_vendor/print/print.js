// The book as one printed document (tools/pdf.py loads this into the singlehtml page, with
// print.css, before chromium prints it). Nothing here runs on the website.
//
// mednotesPrint.prepare(info) turns the one-page site into a book: a title page, a table of
// contents built from the theme's own (parts, numbered chapters, practices), a divider page per
// part, each chapter on a new page, and for what only moves on a screen (static twins, widgets,
// hidden solutions) a still picture or a short note. mednotesPrint.setPageNumbers(pages) writes
// the page numbers that tools/pdf.py read from the first printing into the table of contents.
(function () {
  "use strict";

  var ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X"];

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function clean(text) {
    return (text || "").replace(/#\s*$/, "").replace(/\s+/g, " ").trim();
  }

  // The theme's print-only table of contents: captions (parts) and the chapters under each.
  function readToc() {
    var nav = document.querySelector("#jb-print-toc nav");
    var parts = [];
    if (!nav) return parts;
    var part = null;
    Array.prototype.forEach.call(nav.children, function (child) {
      if (child.matches("p.caption, [role=heading]")) {
        part = { caption: clean(child.textContent), chapters: [] };
        parts.push(part);
      } else if (child.tagName === "UL") {
        if (!part) { part = { caption: "", chapters: [] }; parts.push(part); }
        child.querySelectorAll(":scope > li > a[href^='#']").forEach(function (a) {
          part.chapters.push({ anchor: decodeURIComponent(a.getAttribute("href").slice(1)),
                               title: clean(a.textContent) });
        });
      }
    });
    return parts;
  }

  // A document's top section follows the anchor that singlehtml puts before it.
  function chapterSection(anchor) {
    var mark = document.getElementById(anchor);
    if (!mark) return null;
    var node = mark.nextElementSibling;
    while (node && node.tagName !== "SECTION") node = node.nextElementSibling;
    return node;
  }

  // Links that singlehtml writes as "<page>.html#id" point into this same document.
  function internalLinks(pagePath) {
    document.querySelectorAll("a[href]").forEach(function (a) {
      var url;
      try { url = new URL(a.getAttribute("href"), location.href); } catch (e) { return; }
      if (url.origin === location.origin && url.hash && (url.pathname === pagePath ||
          url.pathname === location.pathname)) {
        a.setAttribute("href", url.hash);
      }
    });
  }

  function titlePage(info, article) {
    var page = el("section", "pdf-title-page");
    page.id = "pdf-title-page";
    var logo = document.querySelector("img.logo__image");
    if (logo) {
      var img = el("img", "pdf-logo");
      img.src = logo.src;
      img.alt = "";
      page.appendChild(img);
    }
    page.appendChild(el("h1", "pdf-title", info.title || document.title));
    var subtitle = info.subtitle;
    if (!subtitle) {
      var first = article.querySelector("section > p > em:only-child");
      subtitle = first ? clean(first.textContent) : "";
    }
    if (subtitle) page.appendChild(el("p", "pdf-subtitle", subtitle));
    if (info.author) page.appendChild(el("p", "pdf-author", info.author));
    var lines = [info.date, info.note, info.source].filter(Boolean);
    var colophon = el("div", "pdf-colophon");
    lines.forEach(function (line) { colophon.appendChild(el("p", "", line)); });
    page.appendChild(colophon);
    return page;
  }

  function tocEntry(target, label, className) {
    var item = el("li", className);
    var link = el("a", "pdf-toc-link");
    link.href = "#" + target;
    link.appendChild(el("span", "pdf-toc-title", label));
    link.appendChild(el("span", "pdf-toc-leader"));
    var number = el("span", "pdf-toc-page", "000");  // a placeholder as wide as the number
    number.dataset.target = target;
    link.appendChild(number);
    item.appendChild(link);
    return item;
  }

  // A practice's solution is hidden on the website (a closed <details>); say so instead.
  // Other hidden code (a chapter's plotting, say) is left out: its output is what matters.
  function hiddenCode(root) {
    root.querySelectorAll("details.hide").forEach(function (details) {
      if (details.open) return;
      var code = details.textContent;
      if (/BEGIN SOLUTION/.test(code)) {
        var note = el("p", "pdf-note pdf-solution-note",
                      "Solution hidden: reveal it on the website, or open the notebook.");
        details.replaceWith(note);
      } else {
        details.classList.add("pdf-omitted");
      }
    });
  }

  // A static twin shows its first frame, with a note; its buttons mean nothing on paper.
  function twins(root) {
    var count = 0;
    root.querySelectorAll(".animation").forEach(function (player) {
      var first = player.querySelector("button[title='First frame']");
      if (first) first.click();
      var slider = player.querySelector("input.anim-slider");
      var frames = slider ? parseInt(slider.max, 10) + 1 : 0;
      var note = el("p", "pdf-note pdf-twin-note",
                    "Interactive on the website: " + (frames > 1 ? "the first of " + frames +
                    " frames is shown here; the page's player steps through all of them."
                    : "the page's player animates this figure.") +
                    " In a running notebook, the explorer redraws as its controls move.");
      player.appendChild(note);
      player.classList.add("pdf-twin");
      count += 1;
    });
    return count;
  }

  // An explorer's widgets. When its static twin follows, the twin's frame and note stand in
  // for them; otherwise the picture they were saved with stays, without controls, or a note
  // says what they are. (singlehtml keeps no widget state: in the book's PDF they are never
  // drawn, and every explorer has its twin.)
  function widgets(root) {
    var count = 0;
    root.querySelectorAll("script[type='application/vnd.jupyter.widget-view+json']").forEach(function (script) {
      var output = script.closest(".cell_output") || script.parentElement;
      var cell = output.closest(".cell") || output;
      var next = cell.nextElementSibling;
      var twinFollows = !!(cell.querySelector(".animation") ||
                           (next && next.querySelector && next.querySelector(".animation")));
      var drawn = !!output.querySelector(".widget-subarea > *");
      count += 1;
      if (twinFollows) {
        output.classList.add("pdf-omitted");
        return;
      }
      var text = "Explorer: interactive in a running notebook.";
      if (drawn) {
        output.classList.add("pdf-widget");
        text = "Explorer as last drawn: interactive in a running notebook.";
      } else {
        output.classList.add("pdf-omitted");
      }
      output.parentNode.insertBefore(el("p", "pdf-note pdf-widget-note", text), output.nextSibling);
    });
    return count;
  }

  // The checks' verdicts are colour emoji, which a machine without an emoji font prints as
  // empty boxes; plain check and cross marks print everywhere.
  function verdicts(root) {
    var marks = { "\u2705": "\u2713", "\u274C": "\u2717" };
    var walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    var node;
    while ((node = walker.nextNode())) {
      if (/[\u2705\u274C]/.test(node.nodeValue)) {
        node.nodeValue = node.nodeValue.replace(/[\u2705\u274C]/g, function (c) { return marks[c]; });
      }
    }
  }

  function prepare(info) {
    info = info || {};
    var article = document.querySelector("article.bd-article") || document.body;
    internalLinks(info.pagePath || "");
    var parts = readToc();

    // The root document: its title is on the title page; in the book it is the preface.
    var front = article.querySelector(":scope > section");
    var frontTitle = info.frontTitle || "About this book";
    if (front) {
      front.classList.add("pdf-chapter", "pdf-front");
      var h1 = front.querySelector("h1");
      if (h1) h1.firstChild.textContent = frontTitle;
      if (!front.id) front.id = "pdf-front";
    }

    var toc = el("section", "pdf-toc");
    toc.id = "pdf-toc";
    toc.appendChild(el("h1", "pdf-toc-heading", "Contents"));
    var list = el("ol", "pdf-toc-list");
    if (front) list.appendChild(tocEntry(front.id, frontTitle, "pdf-toc-chapter"));
    var numbered = 0, chapters = 0;
    parts.forEach(function (part, index) {
      var sections = part.chapters.map(function (c) { return [c, chapterSection(c.anchor)]; })
                                  .filter(function (pair) { return pair[1]; });
      if (!sections.length) return;
      var label = part.caption;
      var isPart = label && !/^reference/i.test(label);
      var divider = el("section", "pdf-part");
      divider.id = "pdf-part-" + (index + 1);
      if (isPart) divider.appendChild(el("p", "pdf-part-number", "Part " + ROMAN[numbered++]));
      divider.appendChild(el("h1", "pdf-part-title", label || "Chapters"));
      var first = sections[0][1];
      var anchor = document.getElementById(sections[0][0].anchor) || first;
      anchor.parentNode.insertBefore(divider, anchor);
      list.appendChild(tocEntry(divider.id, (isPart ? "Part " + ROMAN[numbered - 1] + " · " : "") +
                                (label || "Chapters"), "pdf-toc-part"));
      sections.forEach(function (pair) {
        var section = pair[1];
        section.classList.add("pdf-chapter");
        if (!section.id) section.id = "pdf-" + pair[0].anchor.replace(/\W+/g, "-");
        list.appendChild(tocEntry(section.id, pair[0].title, "pdf-toc-chapter"));
        chapters += 1;
      });
    });
    toc.appendChild(list);
    var title = titlePage(info, article);
    article.insertBefore(toc, article.firstChild);
    article.insertBefore(title, toc);

    hiddenCode(article);
    verdicts(article);
    var twinCount = twins(article);
    var widgetCount = widgets(article);
    document.documentElement.classList.add("pdf-book");
    return { parts: parts.length, chapters: chapters, twins: twinCount, widgets: widgetCount,
             targets: Array.prototype.map.call(toc.querySelectorAll(".pdf-toc-page"),
                                               function (n) { return n.dataset.target; }) };
  }

  function setPageNumbers(pages) {
    var missing = [];
    document.querySelectorAll(".pdf-toc-page").forEach(function (number) {
      var page = pages[number.dataset.target];
      if (page === undefined) missing.push(number.dataset.target);
      number.textContent = page === undefined ? "" : String(page);
    });
    return missing;
  }

  window.mednotesPrint = { prepare: prepare, setPageNumbers: setPageNumbers };
})();
