// What the site checks need to know about a page, measured in the browser once it has settled.
// Evaluated by conftest.py (Playwright's page.evaluate); returns plain JSON.
() => {
  const article = document.querySelector("article.bd-article") || document.querySelector("main") || document.body;
  const viewport = document.documentElement.clientWidth;
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += "#" + el.id;
    for (const c of [...el.classList].slice(0, 3)) name += "." + c;
    return name;
  };
  const excerpt = (text) => text.replace(/\s+/g, " ").trim().slice(0, 120);
  const visible = (el) => el.checkVisibility({ checkOpacity: false, checkVisibilityCSS: true });

  // ---- math: every math element typeset, and no TeX left as text
  const mathElements = [...article.querySelectorAll(".math")];
  const untypeset = mathElements.filter((el) => !el.querySelector("mjx-container")).map((el) => excerpt(el.textContent));
  const mathErrors = [...article.querySelectorAll("mjx-merror")].map((el) => excerpt(el.getAttribute("data-mjx-error") || el.textContent));
  // Text a reader sees as prose: not code, not typeset math, not hidden.
  const NOT_PROSE = "script, style, pre, code, kbd, samp, textarea, svg, noscript, mjx-container, .highlight, .math";
  const blocks = new Map();
  const walker = document.createTreeWalker(article, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const parent = node.parentElement;
    if (!parent || parent.closest(NOT_PROSE) || !visible(parent)) continue;
    const block = parent.closest("p, li, td, th, dt, dd, h1, h2, h3, h4, h5, h6, figcaption, caption, blockquote, div") || article;
    blocks.set(block, (blocks.get(block) || "") + node.textContent);
  }
  const TEX = [
    [/\$\$/, "$$"],
    [/\$[^$\n]+\$/, "$…$"],
    [/\\\(|\\\)|\\\[|\\\]/, "\\( \\[ delimiters"],
    [/\\(frac|d?frac|begin|end|left|right|sum|int|prod|sqrt|math[a-z]+|operatorname|text|cdot|times|partial|nabla|alpha|beta|gamma|delta|epsilon|sigma|mu|lambda|theta|hat|bar|tilde|leq?|geq?|neq|approx|infty|quad|in)(?![a-zA-Z])/, "TeX command"],
  ];
  const rawTex = [];
  for (const text of blocks.values()) {
    for (const [pattern, what] of TEX) {
      const match = text.match(pattern);
      if (match) {
        const start = Math.max(0, match.index - 40);
        rawTex.push(`${what}: …${excerpt(text.slice(start, match.index + match[0].length + 40))}…`);
        break;
      }
    }
  }

  // ---- images: loaded, and with a text alternative that is not a file name
  const images = [...document.images].map((img) => ({
    src: (img.currentSrc || img.getAttribute("src") || "").slice(0, 100),
    alt: img.getAttribute("alt"),
    loaded: img.complete && img.naturalWidth > 0,
    inArticle: article.contains(img),
    hidden: !visible(img),
  }));

  // ---- horizontal overflow
  // A "sideways scroller": an element whose overflow-x scrolls or clips, and whose visible content
  // reaches more than 1 px past its box. Content is measured from the boxes of its descendants,
  // not from scrollWidth, which also counts MathJax's invisible copy for screen readers.
  const CLIPS = new Set(["auto", "scroll", "hidden", "clip"]);
  const kindOf = (el) => {
    if (el.matches("pre, div.highlight, div.highlight *, .cell_input, .cell_input *")) return "code";
    if (el.matches(".cell_output, .cell_output .output") && el.querySelector("pre") &&
        el.querySelector("pre").scrollWidth >= el.scrollWidth - 1) return "code";
    if (el.matches("div.math, .math, mjx-container, mjx-container *, .math-wrapper")) return "math";
    if (el.matches(".pst-scrollable-table-container, .table-wrapper, table")) return "table";
    return "other";
  };
  const excessOf = (el) => {
    const box = el.getBoundingClientRect();
    const inner = box.left + el.clientLeft + el.clientWidth;
    let right = inner;
    for (const d of el.querySelectorAll("*")) {
      if (d.closest("mjx-assistive-mml")) continue;
      const r = d.getBoundingClientRect();
      if (r.width > 0 && r.height > 0 && r.right > right) right = r.right;
    }
    return Math.round(right - inner);
  };
  const scrollers = [];
  for (const el of article.querySelectorAll("*")) {
    if (el.closest("mjx-assistive-mml") || el.clientWidth === 0 || el.scrollWidth <= el.clientWidth + 1) continue;
    const style = getComputedStyle(el);
    if (!CLIPS.has(style.overflowX) || !visible(el)) continue;
    const excess = excessOf(el);
    if (excess <= 1) continue;
    scrollers.push({ kind: kindOf(el), element: describe(el), overflowX: style.overflowX,
                     hiddenWidth: excess, boxWidth: el.clientWidth, text: excerpt(el.textContent) });
  }
  // Display equations that site.js shrank to fit the column (reported, not failed).
  const shrunk = [...article.querySelectorAll("mjx-container[data-shrunk]")].map(
    (el) => `${el.getAttribute("data-shrunk")}: ${excerpt(el.textContent).slice(0, 60)}`);
  // Elements that stick out of the viewport with nothing between them and the page to clip them.
  const clippedByAncestor = (el) => {
    for (let a = el.parentElement; a && a !== document.body && a !== document.documentElement; a = a.parentElement) {
      if (CLIPS.has(getComputedStyle(a).overflowX)) return true;
    }
    return false;
  };
  const sticking = [];
  for (const el of article.querySelectorAll("*")) {
    if (el.closest("mjx-assistive-mml") || !visible(el)) continue;
    const rect = el.getBoundingClientRect();
    if (rect.width === 0 || rect.height === 0) continue;
    if (rect.right <= viewport + 1 && rect.left >= -1) continue;
    if (clippedByAncestor(el)) continue;
    if (sticking.some((s) => s.node.contains(el))) continue;
    sticking.push({ node: el, element: describe(el), left: Math.round(rect.left), right: Math.round(rect.right),
                    text: excerpt(el.textContent) });
  }

  // ---- the buttons of the article header
  const links = (selector) => [...document.querySelectorAll(selector)].map((a) => a.getAttribute("href"));
  return {
    title: document.title,
    viewport,
    pageWidth: document.documentElement.scrollWidth,
    math: { elements: mathElements.length, containers: article.querySelectorAll("mjx-container").length,
            untypeset, errors: mathErrors },
    rawTex,
    images,
    scrollers,
    shrunk,
    sticking: sticking.map(({ node, ...rest }) => rest),
    launch: links(".dropdown-launch-buttons a"),
    download: links(".dropdown-download-buttons a"),
    printButton: document.querySelectorAll(".btn-download-pdf-button").length,
    toggles: Object.fromEntries(["launch", "download"].map((what) => {
      const button = document.querySelector(`.dropdown-${what}-buttons > button`);
      return [what, !!button && visible(button) && !!button.getAttribute("aria-label")];
    })),
    players: document.querySelectorAll("div.animation img[id^='_anim_img']").length,
  };
}
