/* fcgi-harness HTML report viewer (reports/html/report.js; the contract is README.md here).
 *
 * Reads the DATA JSON of <script id="fh-report-data"> and builds the page inside #fh-app:
 *   mode "matrix":   header, legend, filters, table#fh-matrix, and #fh-detail for a cell;
 *   mode "timeline": one run's swimlane in #fh-timeline (an evidence folder's timeline.html).
 * Plain ES2019, no libraries, no network: everything is DOM and inline SVG. Colours live in
 * report.css (the --fh-* custom properties); names and classes of the grades live in GRADES.
 */
(function () {
  'use strict';

  // ------------------------------------------------------------------------------ grades
  // The one place for the grades: name (as in DATA), short text (chips, detail), abbr (a
  // matrix cell's text), CSS class (report.css colours .fh-g-<cls>), and what it means.
  const GRADES = [
    {name: 'PASS', short: 'PASS', abbr: 'PASS', cls: 'pass', about: 'an acceptable outcome graded PASS matched'},
    {name: 'NON-STRICT', short: 'NON-STRICT', abbr: 'N-S', cls: 'nonstrict', about: 'works, but bends the letter of a spec'},
    {name: 'INFORMATIONAL', short: 'INFO', abbr: 'INFO', cls: 'info', about: 'a behaviour worth knowing, not a defect'},
    {name: 'FAIL', short: 'FAIL', abbr: 'FAIL', cls: 'fail', about: 'the requirement is broken'},
    {name: 'ERROR', short: 'ERROR', abbr: 'ERR', cls: 'error', about: 'the harness could not judge (setup, crash, internal error)'},
    {name: 'SKIP', short: 'SKIP', abbr: 'SKIP', cls: 'skip', about: 'does not apply here'},
    {name: 'NOT-RUN', short: 'not run', abbr: '–', cls: 'notrun', about: 'no result for this pair'},
  ];
  const GRADE = Object.fromEntries(GRADES.map((g) => [g.name, g]));
  const SEVERITY = ['FAIL', 'ERROR', 'NON-STRICT', 'INFORMATIONAL', 'SKIP', 'PASS', 'NOT-RUN'];
  const LEVELS = ['MUST', 'SHOULD', 'FIELD'];
  const ROW_CAP = 2000;          // swimlane rows drawn before "show more"
  const COLLAPSE_MIN = 3;        // a run this long collapses into one band

  function grade(name) {
    return GRADE[name] || {name: String(name), short: String(name), abbr: String(name), cls: 'unknown', about: ''};
  }
  function gradeText(cell) {
    if (!cell) return GRADE['NOT-RUN'].short;
    return grade(cell.verdict).short + (cell.expected ? ' (expected)' : '');
  }
  function gradeChip(name, expected, text) {
    const g = grade(name);
    return el('span', {class: `fh-chip fh-g-${g.cls}${expected ? ' fh-expected' : ''}`, title: g.about},
      text || g.short + (expected ? ' (expected)' : ''));
  }
  function levelBadge(level) {
    if (!level) return null;
    return el('span', {class: `fh-level fh-level-${String(level).toLowerCase()}`, title: `level ${level}`}, level);
  }

  // ------------------------------------------------------------------------------ helpers
  function el(tag, attrs, ...kids) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === 'text') node.textContent = v;
      else if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? '' : String(v));
    }
    for (const kid of kids.flat(Infinity)) {
      if (kid === null || kid === undefined || kid === false) continue;
      node.appendChild(typeof kid === 'object' ? kid : document.createTextNode(String(kid)));
    }
    return node;
  }
  const ESC = {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'};
  function esc(s) { return String(s).replace(/[&<>"']/g, (c) => ESC[c]); }
  function isNum(x) { return typeof x === 'number' && isFinite(x); }
  function fmtMs(ms) {
    if (!isNum(ms)) return '—';
    if (Math.abs(ms) >= 1000) return (ms / 1000).toFixed(ms >= 10000 ? 1 : 2) + ' s';
    return ms.toFixed(ms >= 100 ? 0 : ms >= 10 ? 1 : 2) + ' ms';
  }
  function fmtT(ms) { return isNum(ms) ? ms.toFixed(3) : '?'; }
  function fmtBytes(n) {
    if (!isNum(n)) return '—';
    if (n < 1024) return n + ' B';
    if (n < 1048576) return (n / 1024).toFixed(1) + ' KiB';
    return (n / 1048576).toFixed(n < 10485760 ? 2 : 1) + ' MiB';
  }
  function fmtPct(x) { return isNum(x) ? (x * 100).toFixed(1) + ' %' : '—'; }
  function clip(s, n) { s = String(s); return s.length > n ? s.slice(0, Math.max(1, n - 1)) + '…' : s; }
  function pairKey(col, row) { return col + '\u0000' + row; }
  function plural(n, word) { return `${n} ${word}${n === 1 ? '' : 's'}`; }

  // ------------------------------------------------------------------------------ data
  function indexData(data) {
    data.columns = data.columns || [];
    data.rows = data.rows || [];
    data.cells = data.cells || [];
    data.timelines = data.timelines || [];
    const cells = new Map(data.cells.map((c) => [pairKey(c.col, c.row), c]));
    return {
      data,
      rows: new Map(data.rows.map((r) => [r.key, r])),
      cell: (col, row) => cells.get(pairKey(col, row)),
      timeline: (cell) => (cell && isNum(cell.timeline) ? data.timelines[cell.timeline] || null : null),
    };
  }
  // Rows grouped by section, groups in first-appearance order (the C++ side sorts them).
  function sectionGroups(rows) {
    const groups = new Map();
    for (const row of rows) {
      const key = row.section || '';
      if (!groups.has(key)) groups.set(key, {key, title: row.section_title || row.section || 'Other', rows: []});
      groups.get(key).rows.push(row);
    }
    return [...groups.values()];
  }

  // ------------------------------------------------------------------------------ header, legend
  function buildHeader(data, subtitle) {
    return el('header', {class: 'fh-header'},
      el('h1', {}, data.title || 'fcgi-harness report'),
      el('p', {class: 'fh-meta'}, subtitle,
        data.generated ? [' · generated ', el('time', {datetime: data.generated}, data.generated)] : null));
  }
  function gradeLegend() {
    return el('div', {class: 'fh-legend-part'}, el('h3', {}, 'Cells'),
      el('ul', {class: 'fh-legend-list'},
        GRADES.map((g) => el('li', {}, el('span', {class: `fh-chip fh-g-${g.cls}`}, g.abbr), ' ',
          g.abbr !== g.name ? el('strong', {}, g.name.toLowerCase() + ': ') : null, g.about)),
        el('li', {}, gradeChip('FAIL', true, 'FAIL*'), ' an emulated bug detected: FAIL is the expected verdict'),
        el('li', {}, el('span', {class: 'fh-chip fh-g-fail'}, 'FAIL', el('span', {class: 'fh-cell-rate'}, ' 0.20')),
          ' with --repeat: the failure rate over the runs'),
        el('li', {}, el('span', {class: 'fh-variant'}, '· unix'), ' a variant of the check named on the row above (same title, e.g. another transport)'),
        el('li', {}, el('span', {class: 'fh-chip fh-g-pass fh-has-tl'}, 'PASS'), ' corner mark: a timeline was kept (swimlane in the detail)'),
        el('li', {}, el('span', {class: 'fh-quirk-mark'}, 'Q'), ' an allowed quirk covers the cell'),
        el('li', {}, el('span', {class: 'fh-level fh-level-must'}, 'MUST'), ' ',
          el('span', {class: 'fh-level fh-level-should'}, 'SHOULD'), ' ',
          el('span', {class: 'fh-level fh-level-field'}, 'FIELD'), ' the check\'s level (FIELD: a bug seen in the field)')));
  }
  // One small SVG sample per swimlane mark, drawn with the swimlane's own classes.
  function swimLegend() {
    const sample = (inner, w) => {
      const s = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
      s.setAttribute('class', 'fh-legend-svg');
      s.setAttribute('width', w || 56);
      s.setAttribute('height', 16);
      s.innerHTML = inner;
      return s;
    };
    const arrow = (cls) => `<line class="fh-a ${cls}" x1="4" y1="8" x2="46" y2="8"/>${head(50, 8, 1, cls)}`;
    const items = [
      [arrow('http'), 'HTTP between client and gateway (wire)'],
      [arrow('fcgi'), 'FastCGI record between gateway and backend (wire)'],
      [arrow('syn'), 'connection opened (SYN); tooltip names the leg'],
      [arrow('fin'), 'FIN: a side closed its half'],
      [arrow('rst'), 'RST: a connection reset'],
      ['<circle class="fh-dot party" cx="28" cy="8" r="4"/>', 'a party\'s own event, in its lane'],
      ['<circle class="fh-dot bad" cx="28" cy="8" r="4"/>', 'an error, timeout or truncation event'],
      ['<rect class="fh-sq sys" x="24.5" y="4.5" width="7" height="7"/>', 'a system call (strace)'],
      ['<rect class="fh-sq sys bad" x="24.5" y="4.5" width="7" height="7"/>', 'a system call failing with EPIPE or ECONNRESET'],
      ['<rect class="fh-fault" x="2" y="2" width="52" height="12" rx="2"/>', 'a fault that acted (fault:*, bug_emulated, process and syscall faults)'],
      ['<rect class="fh-band" x="2" y="3" width="52" height="10" rx="3"/>', 'N repeats collapsed into one band: click to expand'],
      ['<path class="fh-gap-zig" d="M4 8 l6 -4 l6 8 l6 -8 l6 8 l6 -8 l6 8 l6 -4"/>', 'a pause: time skipped, its length printed'],
    ];
    return el('div', {class: 'fh-legend-part'}, el('h3', {}, 'Swimlanes'),
      el('p', {class: 'fh-note'}, 'Time flows down, one row per event (not to scale): the left column prints each row\'s ms since the run began. Hover for details, click for the inspector line.'),
      el('ul', {class: 'fh-legend-list'}, items.map(([svg, text]) => el('li', {}, sample(svg), ' ', text))));
  }
  function legendBox(parts, open) {
    return el('details', {class: 'fh-legend', open: open}, el('summary', {}, 'Legend'),
      el('div', {class: 'fh-legend-body'}, parts));
  }

  // ------------------------------------------------------------------------------ parties
  // Certify reports put backends and gateways side by side, and no backend column runs a
  // gateway check. Columns fall into parties: columns sharing a row are one party, and
  // parties whose rows' keys all start with the same word (`backend/`, `gateway/`) merge.
  // Two parties or more give the page tabs; a column or row no party claims (no cells, or a
  // key whose word no party has) is shown in every tab.
  function keyWord(key) {
    const m = /^([A-Za-z][\w-]*)\//.exec(key);
    return m ? m[1] : null;
  }
  function findParties(data) {
    const colRows = data.columns.map(() => new Set());
    for (const c of data.cells) if (colRows[c.col]) colRows[c.col].add(c.row);
    const parent = data.columns.map((_, i) => i);
    const find = (i) => (parent[i] === i ? i : (parent[i] = find(parent[i])));
    const owner = new Map();
    colRows.forEach((rows, i) => rows.forEach((r) => {
      if (owner.has(r)) parent[find(i)] = find(owner.get(r)); else owner.set(r, i);
    }));
    const comps = new Map();
    colRows.forEach((rows, i) => {
      if (!rows.size) return;
      const root = find(i);
      if (!comps.has(root)) comps.set(root, {cols: [], rows: new Set()});
      comps.get(root).cols.push(i);
      rows.forEach((r) => comps.get(root).rows.add(r));
    });
    const parties = [], byWord = new Map();
    for (const p of comps.values()) {
      const words = new Set([...p.rows].map(keyWord));
      p.word = words.size === 1 ? [...words][0] : null;
      const same = p.word && byWord.get(p.word);
      if (same) { same.cols.push(...p.cols); p.rows.forEach((r) => same.rows.add(r)); continue; }
      if (p.word) byWord.set(p.word, p);
      parties.push(p);
    }
    if (parties.length < 2) return null;
    for (const r of data.rows) {
      const p = !owner.has(r.key) && byWord.get(keyWord(r.key));
      if (p) p.rows.add(r.key);
    }
    parties.forEach((p) => p.cols.sort((a, b) => a - b));
    parties.sort((a, b) => a.cols[0] - b.cols[0]);
    const colParty = data.columns.map(() => ''), rowParty = new Map(data.rows.map((r) => [r.key, '']));
    parties.forEach((p, i) => {
      p.id = p.word || `group-${i + 1}`;
      const first = data.columns[p.cols[0]].name || `column ${p.cols[0]}`;
      p.label = p.word ? p.word.charAt(0).toUpperCase() + p.word.slice(1) + (/s$/.test(p.word) ? '' : 's')
        : first + (p.cols.length > 1 ? ' …' : '');
      p.cols.forEach((c) => { colParty[c] = p.id; });
      p.rows.forEach((r) => { if (rowParty.has(r)) rowParty.set(r, p.id); });
    });
    return {list: parties, colParty, rowParty};
  }
  // The tab bar: one button per party, then All; `onPick(id)` ('' for All).
  function buildPartyTabs(parties, ncols, onPick) {
    const tab = (id, text, n, about) => el('button', {type: 'button', role: 'tab', class: 'fh-tab', 'data-party': id,
      'aria-selected': 'false', title: about, onclick: () => onPick(id)}, text, el('span', {class: 'fh-tab-n'}, ` (${n})`));
    const bar = el('div', {id: 'fh-party', class: 'fh-tabs', role: 'tablist', 'aria-label': 'implementations shown'},
      parties.list.map((p) => tab(p.id, p.label, p.cols.length, `${plural(p.cols.length, 'column')}, ${plural(p.rows.size, 'row')}`)),
      tab('', 'All', ncols, 'every column and row'));
    bar.addEventListener('keydown', (e) => {
      const tabs = [...bar.querySelectorAll('.fh-tab')], i = tabs.indexOf(document.activeElement);
      const d = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
      if (i < 0 || !d) return;
      e.preventDefault();
      const next = tabs[(i + d + tabs.length) % tabs.length];
      next.focus();
      next.click();
    });
    return bar;
  }

  // ------------------------------------------------------------------------------ variants
  // `id[variant]`: rows of one check run per transport (or other variant) in a row.
  function splitVariant(key) {
    const m = /^(.*)\[([^\][]*)\]$/.exec(key);
    return m ? {check: m[1], variant: m[2]} : {check: key, variant: ''};
  }
  function stemOf(check) {
    const parts = check.split('/');
    return parts[parts.length - 1] || check;
  }

  // ------------------------------------------------------------------------------ matrix
  // Counts by grade of one column over the rows of its own party (NOT-RUN for a missing
  // cell), and its FAIL/ERROR on MUST rows, unexpected ones apart from emulated bugs'.
  function columnCounts(ix, col, parties) {
    const counts = Object.fromEntries(GRADES.map((g) => [g.name, 0]));
    const mine = parties ? parties.colParty[col] : '';
    let must = 0, mustExpected = 0, expected = 0, total = 0;
    for (const row of ix.data.rows) {
      if (mine && parties.rowParty.get(row.key) && parties.rowParty.get(row.key) !== mine) continue;
      total++;
      const cell = ix.cell(col, row.key);
      const g = cell ? cell.verdict : 'NOT-RUN';
      counts[g] = (counts[g] || 0) + 1;
      if (cell && cell.expected && g === 'FAIL') expected++;
      if (cell && (g === 'FAIL' || g === 'ERROR') && row.level === 'MUST') {
        if (cell.expected) mustExpected++; else must++;
      }
    }
    return {counts, must, mustExpected, expected, total};
  }
  // The column head: its name (up to 3 lines), a stacked bar, the MUST failures.
  function columnHead(ix, col, index, parties) {
    const s = columnCounts(ix, index, parties);
    const summary = SEVERITY.filter((g) => s.counts[g]).map((g) =>
      `${s.counts[g]} ${g}` + (g === 'FAIL' && s.expected ? ` (${s.expected} expected)` : '')).join(', ');
    const must = el('div', {class: `fh-must ${s.must ? 'fh-must-bad' : 'fh-must-ok'}`,
      title: s.must ? `${s.must} MUST rows FAIL or ERROR` : 'no MUST row fails'}, s.must ? `${s.must} MUST` : '0 MUST',
    s.mustExpected ? el('span', {class: 'fh-must-exp', title: `${s.mustExpected} expected (emulated bugs)`}, ` +${s.mustExpected}*`) : null);
    const bar = el('div', {class: 'fh-bar'}, SEVERITY.filter((g) => s.counts[g]).map((g) =>
      el('span', {class: `fh-g-${grade(g).cls}`, style: `flex-grow:${s.counts[g]}`})));
    const tip = [col.name || `column ${index}`, col.about, col.source, `${s.total} rows: ${summary}`].filter(Boolean).join('\n');
    return el('th', {class: 'fh-colhead', scope: 'col', 'data-col': index, title: tip},
      el('div', {class: 'fh-colname'}, col.name || `column ${index}`), bar, must);
  }
  // The sticky row head, one line: level, title (ellipsis), the key's last part (when it
  // fits whole: it wraps onto a clipped second line otherwise), the variant. A row that follows its check's first row shows only "· variant" (CSS, by the
  // fh-vfollow class applyFilters sets, so the first row shown always has the title).
  function rowHead(row, v) {
    const tip = [row.title, row.key, row.requirement ? '“' + row.requirement + '”' : ''].filter(Boolean).join('\n');
    return el('th', {class: 'fh-rowhead', scope: 'row', title: tip},
      el('div', {class: 'fh-rowline'},
        el('span', {class: 'fh-lvl-slot'}, levelBadge(row.level)),
        el('span', {class: 'fh-rowtext'}, el('span', {class: 'fh-rowtitle'}, row.title || v.check),
          row.title ? el('span', {class: 'fh-key fh-stem'}, stemOf(v.check)) : null),
        v.variant ? el('span', {class: 'fh-variant'}, '· ' + v.variant) : null));
  }
  // The text of a cell: the short grade, FAIL* for an expected FAIL, the failure rate.
  function cellText(cell) {
    if (!cell) return GRADE['NOT-RUN'].abbr;
    return grade(cell.verdict).abbr + (cell.expected ? '*' : '');
  }
  // One td.fh-cell: coloured by grade, the short text, the repeat rate after it.
  function buildCell(ix, col, row) {
    const cell = ix.cell(col, row.key);
    const g = grade(cell ? cell.verdict : 'NOT-RUN');
    const cls = ['fh-cell', `fh-g-${g.cls}`];
    if (cell && cell.expected) cls.push('fh-expected');
    if (ix.timeline(cell)) cls.push('fh-has-tl');
    let rate = null, tip = `${ix.data.columns[col].name}: ${row.key}\n${gradeText(cell)}`;
    if (cell && isNum(cell.rate) && isNum(cell.runs)) {
      rate = cell.rate.toFixed(2);
      tip += `\nfailure rate ${fmtPct(cell.rate)} over ${cell.runs} runs` +
        (Array.isArray(cell.rate_ci95) ? ` (95 % CI ${fmtPct(cell.rate_ci95[0])}–${fmtPct(cell.rate_ci95[1])})` : '');
    }
    const load = cell && (cell.requests || []).map((r) => r.load).find(Boolean);
    if (load) {
      const bad = Object.entries(load.verdicts || {}).filter(([k]) => k !== 'PASS').reduce((n, [, v]) => n + v, 0);
      tip += bad ? `\nload: ${bad} of ${load.started} requests bad` : `\nload: ${load.finished} requests`;
    }
    if (ix.timeline(cell)) tip += '\n(a timeline was kept)';
    if (cell && cell.reason) tip += '\n' + clip(cell.reason, 300);
    if (cell && cell.quirk) tip += `\nquirk: ${cell.quirk.allowed} allowed: ${cell.quirk.reason || ''}`;
    return el('td', {class: cls.join(' '), tabindex: 0, 'data-col': col, 'data-row': row.key,
      'data-grade': cell ? cell.verdict : 'NOT-RUN', title: tip, 'aria-label': tip.split('\n').slice(0, 2).join(': ')},
    cellText(cell),
    rate !== null ? el('span', {class: 'fh-cell-rate'}, ' ' + rate) : null,
    cell && cell.quirk ? el('span', {class: 'fh-quirk-mark', title: 'quirk allowed'}, 'Q') : null);
  }
  function buildMatrix(ix, parties) {
    const cols = ix.data.columns;
    const head = el('thead', {}, el('tr', {},
      el('th', {class: 'fh-corner', scope: 'col'}, el('span', {class: 'fh-corner-count'}), el('div', {class: 'fh-note'}, 'check · variant')),
      cols.map((c, i) => columnHead(ix, c, i, parties))));
    const bodies = sectionGroups(ix.data.rows).map((grp) => {
      let prev = null;
      return el('tbody', {class: 'fh-group', 'data-section': grp.key},
        el('tr', {class: 'fh-section'}, el('th', {colspan: cols.length + 1, scope: 'colgroup'},
          el('span', {class: 'fh-section-label'}, grp.title, el('span', {class: 'fh-section-count'})))),
        grp.rows.map((row) => {
          const v = splitVariant(row.key);
          const first = !prev || prev.check !== v.check;
          prev = v;
          return el('tr', {class: 'fh-row' + (first ? ' fh-vlead' : ' fh-vfollow'), 'data-row': row.key, 'data-level': row.level || '-',
            'data-check': v.check, 'data-variant': v.variant || null,
            'data-party': parties ? parties.rowParty.get(row.key) : null},
          rowHead(row, v), cols.map((_, c) => buildCell(ix, c, row)));
        }));
    });
    return el('table', {id: 'fh-matrix', class: 'fh-matrix'}, head, bodies);
  }

  // Filters: grade (a row shows if any of its shown cells has it), level, free text on
  // key/title; all within the party tab.
  function buildFilters(ix, onChange) {
    const levels = LEVELS.filter((l) => ix.data.rows.some((r) => r.level === l));
    if (ix.data.rows.some((r) => !r.level)) levels.push('-');
    const opt = (value, text) => el('option', {value}, text);
    const gradeSel = el('select', {id: 'fh-filter-grade', onchange: onChange},
      opt('', 'all grades'), GRADES.map((g) => opt(g.name, g.name)));
    const levelSel = el('select', {id: 'fh-filter-level', onchange: onChange},
      opt('', 'all levels'), levels.map((l) => opt(l, l === '-' ? '(no level)' : l)));
    const text = el('input', {id: 'fh-filter-text', type: 'search', placeholder: 'key or title contains…', oninput: onChange});
    return el('div', {class: 'fh-filters'},
      el('label', {}, 'Grade ', gradeSel), el('label', {}, 'Level ', levelSel), el('label', {}, 'Find ', text),
      el('span', {id: 'fh-filter-count', class: 'fh-note'}));
  }
  // Shows the columns and rows of `party` ('' for all) that pass the filters.
  function applyFilters(ix, table, parties, party) {
    const g = document.getElementById('fh-filter-grade').value;
    const level = document.getElementById('fh-filter-level').value;
    const words = document.getElementById('fh-filter-text').value.toLowerCase().split(/\s+/).filter(Boolean);
    const inTab = (p) => !party || !p || p === party;
    const colOn = ix.data.columns.map((_, c) => inTab(parties ? parties.colParty[c] : ''));
    for (const th of table.querySelectorAll('th.fh-colhead')) th.hidden = !colOn[+th.dataset.col];
    const ncols = colOn.filter(Boolean).length;
    let shown = 0, total = 0;
    const checks = new Set(), tabChecks = new Set();
    for (const body of table.tBodies) {
      let any = 0, rows = 0, prev = null;
      for (const tr of body.querySelectorAll('tr.fh-row')) {
        const cells = [...tr.querySelectorAll('td.fh-cell')];
        cells.forEach((td) => { td.hidden = !colOn[+td.dataset.col]; });
        const tab = inTab(tr.dataset.party);
        let ok = tab;
        if (tab) {
          total++;
          rows++;
          tabChecks.add(tr.dataset.check);
          const r = ix.rows.get(tr.dataset.row) || {};
          const text = (tr.dataset.row + ' ' + (r.title || '')).toLowerCase();
          ok = (!level || tr.dataset.level === level) && words.every((w) => text.includes(w)) &&
            (!g || cells.some((td) => !td.hidden && td.dataset.grade === g));
        }
        tr.hidden = !ok;
        cells.forEach((td) => td.classList.toggle('fh-dim', !!g && td.dataset.grade !== g));
        if (ok) {
          const lead = prev !== tr.dataset.check;
          tr.classList.toggle('fh-vlead', lead);
          tr.classList.toggle('fh-vfollow', !lead);
          prev = tr.dataset.check;
          checks.add(tr.dataset.check);
          any++;
          shown++;
        }
      }
      body.hidden = !any;
      const head = body.querySelector('tr.fh-section th');
      if (head) head.colSpan = ncols + 1;
      const count = body.querySelector('.fh-section-count');
      if (count) count.textContent = any === rows ? ` ${rows}` : ` ${any} of ${rows}`;
    }
    document.getElementById('fh-filter-count').textContent =
      (shown === total ? plural(total, 'row') : `${shown} of ${plural(total, 'row')} shown`) +
      ` (${plural(checks.size, 'check')}) × ${plural(ncols, 'column')}`;
    const corner = table.querySelector('.fh-corner-count');
    if (corner) corner.textContent = checks.size === tabChecks.size ? plural(tabChecks.size, 'check') : `${checks.size} of ${plural(tabChecks.size, 'check')}`;
  }
  // Arrow keys move between the visible cells; Enter or Space opens one.
  function matrixKeys(table, open) {
    const shownCells = (tr) => [...tr.cells].filter((td) => td.classList.contains('fh-cell') && !td.hidden);
    table.addEventListener('keydown', (e) => {
      const td = e.target.closest && e.target.closest('td.fh-cell');
      if (!td) return;
      if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); open(td); return; }
      const moves = {ArrowLeft: [0, -1], ArrowRight: [0, 1], ArrowUp: [-1, 0], ArrowDown: [1, 0]};
      if (!moves[e.key]) return;
      const [dr, dc] = moves[e.key];
      let next = null;
      if (dc) next = shownCells(td.parentElement)[shownCells(td.parentElement).indexOf(td) + dc];
      else {
        const rows = [...table.querySelectorAll('tr.fh-row')].filter((tr) => !tr.hidden && !tr.parentElement.hidden);
        const tr = rows[rows.indexOf(td.parentElement) + dr];
        next = tr && shownCells(tr).find((x) => x.dataset.col === td.dataset.col);
      }
      if (next) { e.preventDefault(); next.focus(); }
    });
  }

  // ------------------------------------------------------------------------------ detail
  function section(title, ...kids) {
    return el('section', {class: 'fh-dsec'}, el('h3', {}, title), kids);
  }
  function list(items, empty) {
    return items && items.length ? el('ul', {class: 'fh-list'}, items.map((t) => el('li', {}, el('code', {}, t))))
      : el('p', {class: 'fh-note'}, empty);
  }
  // The requests of the judged run: status, outcome, framing, bytes, timings; load summary.
  function requestsTable(requests) {
    if (!requests || !requests.length) return el('p', {class: 'fh-note'}, 'No request results (the run did not get that far, or the check makes none).');
    const cols = ['request', 'verdict', 'outcome', 'status', 'framing', 'body', 'connect', 'first byte', 'first body byte', 'last byte'];
    const body = [];
    for (const r of requests) {
      body.push(el('tr', {},
        el('td', {}, el('code', {}, r.name || '?')), el('td', {}, r.verdict ? gradeChip(r.verdict) : '—'),
        el('td', {}, r.outcome || '—'), el('td', {}, r.status === null || r.status === undefined ? '—' : r.status),
        el('td', {}, r.framing || '—'), el('td', {class: 'fh-num', title: r.body_sha256 ? 'sha256 ' + r.body_sha256 : null}, fmtBytes(r.body_bytes)),
        ['connect_ms', 'first_byte_ms', 'first_body_byte_ms', 'last_byte_ms'].map((k) => el('td', {class: 'fh-num'}, fmtMs(r[k])))));
      const extra = [];
      if (r.reason) extra.push(el('div', {class: 'fh-reason'}, r.reason));
      if (r.error) extra.push(el('div', {class: 'fh-note'}, 'client error: ', r.error));
      if (r.deviations && r.deviations.length) extra.push(el('div', {}, 'deviations read anyway: ', list(r.deviations)));
      if (r.load) extra.push(loadSummary(r.load));
      if (extra.length) body.push(el('tr', {class: 'fh-req-more'}, el('td', {colspan: cols.length}, extra)));
    }
    return el('table', {class: 'fh-table fh-requests'}, el('thead', {}, el('tr', {}, cols.map((c) => el('th', {}, c)))), el('tbody', {}, body));
  }
  function loadSummary(load) {
    const lat = load.latency_ms || {};
    return el('div', {class: 'fh-load'}, el('strong', {}, 'load: '),
      `${load.started} started, ${load.finished} finished, ${load.retried || 0} retried · `,
      Object.entries(load.verdicts || {}).map(([g, n]) => [gradeChip(g, false, `${n} ${grade(g).short}`), ' ']),
      ` · latency p50 ${fmtMs(lat.p50)}, p99 ${fmtMs(lat.p99)}, max ${fmtMs(lat.max)}`,
      isNum(load.first_bad) ? ` · first bad request #${load.first_bad}` : '');
  }
  // --repeat: counts by grade, the failure rate with its 95 % CI (and a quirk's allowance).
  function repeatBlock(cell) {
    const w = 260, h = 22, x = (v) => 4 + Math.max(0, Math.min(1, v)) * (w - 8);
    const ci = Array.isArray(cell.rate_ci95) ? cell.rate_ci95 : null;
    const allowed = cell.quirk && isNum(cell.quirk.max_rate) ? cell.quirk.max_rate : null;
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'fh-rate');
    svg.setAttribute('width', w);
    svg.setAttribute('height', h);
    svg.innerHTML = `<rect class="fh-rate-track" x="4" y="7" width="${w - 8}" height="8" rx="2"/>` +
      `<rect class="fh-rate-bar" x="4" y="7" width="${x(cell.rate) - 4}" height="8" rx="2"/>` +
      (ci ? `<path class="fh-rate-ci" d="M${x(ci[0])} 4 v14 M${x(ci[0])} 11 H${x(ci[1])} M${x(ci[1])} 4 v14"/>` : '') +
      (allowed !== null ? `<line class="fh-rate-allowed" x1="${x(allowed)}" y1="1" x2="${x(allowed)}" y2="21"/>` : '') +
      `<title>failure rate ${fmtPct(cell.rate)}${ci ? `, 95 % CI ${fmtPct(ci[0])}–${fmtPct(ci[1])}` : ''}${allowed !== null ? `, a quirk allows up to ${fmtPct(allowed)}` : ''}</title>`;
    return section('Repeats',
      el('p', {}, `${cell.runs} runs: `, Object.entries(cell.verdict_counts || {}).filter(([, n]) => n)
        .map(([g, n]) => [gradeChip(g, false, `${n} ${grade(g).short}`), ' '])),
      el('p', {class: 'fh-rate-line'}, svg, ' failure rate ', el('strong', {}, fmtPct(cell.rate)),
        ci ? ` (95 % CI ${fmtPct(ci[0])}–${fmtPct(ci[1])})` : '', allowed !== null ? ` · allowed up to ${fmtPct(allowed)}` : ''));
  }
  function evidenceBlock(cell) {
    const files = cell.files || [];
    if (!cell.evidence && !files.length) return section('Evidence', el('p', {class: 'fh-note'}, 'No evidence folder was kept for this run.'));
    return section('Evidence',
      cell.evidence ? el('p', {}, 'folder ', el('a', {href: cell.evidence}, cell.evidence)) : null,
      files.length ? el('ul', {class: 'fh-files'}, files.map((f) => el('li', {},
        el('a', {href: f.path}, f.name), el('span', {class: 'fh-note'}, ' ' + fmtBytes(f.bytes))))) : null);
  }
  // Everything known about one (column, row) pair; the swimlane when a timeline was kept.
  function detailView(ix, col, row, cell) {
    const column = ix.data.columns[col] || {};
    const tl = ix.timeline(cell);
    const facts = [
      ['column', [column.name || `column ${col}`, column.about ? el('span', {class: 'fh-note'}, ` (${column.about})`) : null]],
      ['verdict', cell ? gradeChip(cell.verdict, cell.expected) : gradeChip('NOT-RUN')],
      cell && isNum(cell.duration_ms) ? ['duration', fmtMs(cell.duration_ms)] : null,
      cell && cell.emulates ? ['emulates', cell.emulates] : null,
      column.source ? ['results', el('a', {href: column.source}, column.source)] : null,
    ].filter(Boolean);
    const out = [
      el('div', {class: 'fh-detail-head'},
        el('button', {type: 'button', class: 'fh-back', title: 'back to this cell in the matrix (Escape)'}, '↑ matrix'),
        el('h2', {}, levelBadge(row.level), ' ', row.title || row.key),
        el('div', {class: 'fh-key'}, row.key)),
      row.requirement ? el('blockquote', {class: 'fh-requirement'}, row.requirement,
        row.level ? el('span', {class: 'fh-note'}, ` — level ${row.level}`) : null) : null,
      el('dl', {class: 'fh-facts'}, facts.map(([k, v]) => [el('dt', {}, k), el('dd', {}, v)])),
    ];
    if (!cell) {
      out.push(el('p', {class: 'fh-note'}, `Not run: ${column.name || 'this column'} has no result for this check.`));
      return out;
    }
    if (cell.reason) out.push(section('Reason', el('pre', {class: 'fh-reason'}, cell.reason)));
    if (cell.quirk) {
      const q = cell.quirk;
      out.push(el('div', {class: 'fh-quirk'}, el('strong', {}, 'Quirk allowed: '), `worst grade ${q.allowed || '?'}`,
        isNum(q.max_rate) ? `, failure rate up to ${fmtPct(q.max_rate)}` : '', q.expires ? `, expires ${q.expires}` : '',
        q.reason ? el('div', {}, q.reason) : null));
    }
    out.push(el('div', {class: 'fh-two'},
      section('Acceptable outcomes (expect)', list(cell.expect, 'none written')),
      section('Event checks', list(cell.checks, 'none'))));
    out.push(section('Requests (actual)', requestsTable(cell.requests)));
    if (isNum(cell.runs)) out.push(repeatBlock(cell));
    out.push(evidenceBlock(cell));
    out.push(section('Timeline', tl ? createSwimlane(tl) : el('p', {class: 'fh-note'},
      'No timeline was kept for this run: evidence is kept for FAIL and ERROR runs; `--keep all` keeps every run\'s.')));
    return out;
  }

  // ------------------------------------------------------------------------------ swimlane: model
  // Wire events become arrows between the two lanes of their leg; the rest are marks.
  const MAIN_LANES = ['client', 'gateway', 'backend'];
  const GB = ['gateway', 'backend'], BG = ['backend', 'gateway'], CG = ['client', 'gateway'], GC = ['gateway', 'client'];
  const WIRE_DIR = {
    http_request_head: CG, http_response_head: GC, http_response_complete: GC, http_response_truncated: GC,
    begin_request: GB, params: GB, params_terminator: GB, stdin_terminator: GB, data_terminator: GB, abort_request: GB,
    end_request: BG, stdout_bytes: BG, stdout_terminator: BG, stderr_terminator: BG,
  };
  // Decoded facts about a record the wire also shows as fcgi_record: drawn on that arrow.
  const WIRE_DERIVED = new Set(['begin_request', 'params', 'params_terminator', 'stdin_terminator', 'stdout_terminator',
    'stderr_terminator', 'data_terminator', 'end_request', 'stdout_bytes', 'abort_request', 'completeness']);
  const STREAM_RECORD = /^FCGI_(STDOUT|STDIN|STDERR|DATA)$/;
  const BAD_NAME = /error|fail|timeout|internal|refused|broken|unknown_role|cant_mpx/i;
  const WARN_NAME = /truncat|abort|reset|dropped|withheld|ignored|late|mismatch|duplicat|unterminated|excess|released|abandoned|answered_5|hole/i;

  function isFault(e) {
    return e.name.startsWith('fault:') || e.name === 'bug_emulated' ||
      (e.lane === 'harness' && (e.name.startsWith('process_') || e.name === 'syscall_fault_injected'));
  }
  function wireLegs(events) {
    const legs = new Map();
    for (const e of events) {
      if (e.name !== 'connection_open') continue;
      const m = /^(\w+)\s+\S+\s*->\s*(\w+)/.exec(e.detail || '');
      if (m) legs.set(e.connection, [m[1], m[2]]);
    }
    return legs;
  }
  // Who sent a wire event to whom, or null (drawn as a mark in the wire lane then). The leg
  // comes from connection_open, else from the event's kind; the sender from "from X".
  function wireDirection(e, legs) {
    const leg = legs.get(e.connection) || (/^(http_|completeness$)/.test(e.name) ? CG
      : /^fcgi_|record|request|params|stdin|stdout|stderr/.test(e.name) ? GB : null);
    if (e.name === 'connection_open') return leg;
    const m = /\bfrom (client|gateway|backend)\b/.exec(e.detail || '');
    if (m) {
      const from = m[1];
      if (leg && leg.includes(from)) return [from, leg[0] === from ? leg[1] : leg[0]];
      return [from, from === 'gateway' ? 'backend' : 'gateway'];
    }
    return WIRE_DIR[e.name] || (e.name === 'completeness' ? GC : null);
  }
  // One view per event: where it is drawn, its label, its colour class, its tooltip text.
  function viewOf(e, i, legs) {
    const v = {e, i, ms: isNum(e.ms) ? e.ms : 0, kind: 'mark', lane: e.lane, cls: 'party', label: '', derived: false};
    const detail = e.detail || '';
    v.text = `${fmtT(e.ms)} ${e.lane} ${e.source} ${e.name} conn ${e.connection} req ${e.request_id} ${e.value} ${detail}`.toLowerCase();
    if (e.source === 'wire' || e.lane === 'wire') {
      const dir = wireDirection(e, legs);
      v.derived = WIRE_DERIVED.has(e.name);
      if (dir) { v.kind = 'arrow'; v.from = dir[0]; v.to = dir[1]; } else v.lane = 'wire';
      v.cls = wireClass(e);
      v.label = wireLabel(e, v);
      return v;
    }
    v.label = e.name + (e.value ? ` (${e.value})` : '') + (detail ? ' ' + detail : '');
    if (isFault(e)) {
      v.kind = 'fault';
      v.cls = 'fault';
      v.label = e.name + (detail ? ' ' + detail : '');
      const target = e.lane === 'harness' && /^(client|gateway|backend)\b/.exec(detail);
      if (target) v.target = target[1];
    } else if (e.name.startsWith('syscall:')) {
      const res = /= (-1 [A-Z0-9]+|\S+)/.exec(detail), fd = /^fd (\d+)/.exec(detail);
      v.sys = true;
      v.fd = fd ? fd[1] : '?';
      v.sysError = !!res && res[1].startsWith('-1');
      v.cls = /\b(EPIPE|ECONNRESET)\b/.test(detail) ? 'sys bad' : 'sys';
      const tampered = /\((INJECTED|DELAYED)\)/.exec(detail);
      v.label = e.name.replace(/^syscall:/, '') + (fd ? ` fd ${fd[1]}` : '') + (res ? ` = ${res[1]}` : '') +
        (tampered ? ' ' + tampered[0] : '');
    } else if (BAD_NAME.test(e.name) || e.name.startsWith('signal:')) v.cls = 'bad';
    else if (WARN_NAME.test(e.name)) v.cls = 'warn';
    else if (e.lane === 'harness') v.cls = 'harness';
    return v;
  }
  function wireClass(e) {
    if (e.name === 'tcp_rst') return 'rst';
    if (e.name === 'tcp_fin') return 'fin';
    if (e.name === 'connection_open') return 'syn';
    if (/^(fcgi_error|fcgi_truncated|tcp_hole)$/.test(e.name)) return 'bad';
    if (e.name === 'http_response_truncated') return 'http warn';
    if (e.name.startsWith('http_')) return 'http';
    if (e.name === 'completeness') return /^(whole|visible-truncation|failure-answered)/.test(e.detail || '') ? 'note' : 'note bad';
    return e.name === 'capture_stopped' ? 'party' : 'fcgi';
  }
  function wireLabel(e, v) {
    const d = e.detail || '';
    const rec = /^(FCGI_\w+) id=(\d+) len=(\d+)(?: pad=(\d+))?/.exec(d);
    if (e.name === 'fcgi_record' && rec) {
      v.rec = {type: rec[1], len: +rec[3]};
      return `${rec[1]} id=${rec[2]} len=${rec[3]}` + (rec[4] && rec[4] !== '0' ? ` pad=${rec[4]}` : '');
    }
    switch (e.name) {
      case 'connection_open': return `SYN · conn ${e.connection}`;
      case 'tcp_fin': return `FIN · conn ${e.connection}`;
      case 'tcp_rst': return `RST · conn ${e.connection}`;
      case 'http_request_head': case 'http_response_head': return d;
      case 'http_response_complete': return `complete, ${fmtBytes(e.value)} (${d})`;
      case 'http_response_truncated': return `truncated at ${fmtBytes(e.value)}: ${d}`;
      default: return e.name + (d ? ' ' + d : '');
    }
  }
  // A derived event's short text when it rides on its record's arrow.
  function tagText(v) {
    const e = v.e, d = e.detail || '';
    if (e.name === 'params') return `params (${e.value})`;
    if (e.name === 'end_request') return 'end_request ' + d.split(' ')[0];
    if (e.name === 'stdout_bytes') return `stdout_bytes ${fmtBytes(e.value)}`;
    if (e.name === 'completeness') return 'completeness: ' + d.split(':')[0];
    return e.name;
  }
  function buildModel(tl) {
    const events = (tl.events || []).slice().sort((a, b) => (a.ms || 0) - (b.ms || 0));
    const legs = wireLegs(events);
    const views = events.map((e, i) => viewOf(e, i, legs));
    const declared = (tl.lanes || []).map((l) => l.name);
    const used = new Set(views.filter((v) => v.kind !== 'arrow').map((v) => v.lane));
    const lanes = MAIN_LANES.slice();
    for (const n of declared.concat([...used])) {
      if (!lanes.includes(n) && n !== 'harness' && n !== 'wire') lanes.push(n);
    }
    if (declared.includes('harness') || used.has('harness')) lanes.push('harness');
    if (used.has('wire')) lanes.push('wire');
    const who = Object.fromEntries((tl.lanes || []).map((l) => [l.name, l.who || '']));
    const conns = new Set(views.filter((v) => v.kind === 'arrow' && v.e.connection).map((v) => v.e.connection));
    return {views, lanes, who, legs, multi: conns.size > 2};   // multi: arrows say their connection
  }

  // ------------------------------------------------------------------------------ swimlane: collapsing
  // Items: one view plus the derived views riding on it. Bands: runs of alike items.
  function filterViews(views, query) {
    const words = query.toLowerCase().split(/\s+/).filter(Boolean);
    if (!words.length) return views;
    return views.filter((v) => words.every((w) => (w[0] === '-' && w.length > 1 ? !v.text.includes(w.slice(1)) : v.text.includes(w))));
  }
  function toItems(views) {
    const items = [];
    for (const v of views) {
      const prev = items[items.length - 1];
      if (v.derived && prev && Math.abs(prev.ms - v.ms) < 0.0015 && (v.e.name === 'completeness'
        ? prev.main.e.name.startsWith('http_response') : prev.main.e.name === 'fcgi_record' && prev.main.e.connection === v.e.connection)) {
        prev.tags.push(v);
        continue;
      }
      items.push({id: 'e' + v.i, main: v, tags: [], ms: v.ms, end: v.ms});
    }
    markRepeats(items);
    return items;
  }
  // The key alike items share, or null for an item that is never collapsed (a barrier).
  function collapseKey(it) {
    const v = it.main, e = v.e;
    if (it.tags.length || v.kind === 'fault') return null;
    if (v.rec && STREAM_RECORD.test(v.rec.type) && v.rec.len > 0) return `r|${e.connection}|${e.request_id}|${v.from}|${v.rec.type}`;
    if (e.name === 'stdout_bytes' && v.kind === 'arrow') return `b|${e.connection}`;
    if (v.sys && !v.sysError) return `s|${e.lane}|${e.name}|${v.fd}`;
    return it.repeat || null;
  }
  // Party events identical to the lane's previous one (name and detail) may collapse.
  function markRepeats(items) {
    const last = new Map();
    for (const it of items) {
      const v = it.main;
      if (v.kind !== 'mark' || v.sys || v.e.source === 'wire') continue;
      const key = `p|${v.lane}|${v.e.name}|${v.e.detail || ''}`;
      const prev = last.get(v.lane);
      if (prev && prev.pkey === key) { prev.repeat = key; it.repeat = key; }
      it.pkey = key;
      last.set(v.lane, it);
    }
  }
  function gapThreshold(items) {
    const dts = [];
    for (let i = 1; i < items.length; i++) { const d = items[i].ms - items[i - 1].ms; if (d > 0) dts.push(d); }
    if (!dts.length) return Infinity;
    dts.sort((a, b) => a - b);
    return Math.max(5, 20 * dts[dts.length >> 1]);
  }
  // Between barriers (and pauses), items with the same key and a run of COLLAPSE_MIN or more
  // become one band, placed where the first of them was.
  function collapse(items, gap) {
    const out = [];
    let seg = [], lastMs = null;
    const flush = () => {
      const groups = new Map();
      for (const it of seg) { if (!groups.has(it.ckey)) groups.set(it.ckey, []); groups.get(it.ckey).push(it); }
      for (const it of seg) {
        const g = groups.get(it.ckey);
        if (g.length < COLLAPSE_MIN) out.push(it);
        else if (g[0] === it) out.push(makeBand(g));
      }
      seg = [];
    };
    for (const it of items) {
      if (lastMs !== null && it.ms - lastMs >= gap) flush();
      lastMs = it.ms;
      it.ckey = collapseKey(it);
      if (it.ckey) seg.push(it); else { flush(); out.push(it); }
    }
    flush();
    return out;
  }
  function makeBand(members) {
    const first = members[0].main, last = members[members.length - 1];
    const bytes = members.reduce((n, it) => n + (it.main.rec ? it.main.rec.len : it.main.e.value || 0), 0);
    const what = first.rec ? first.rec.type : first.sys ? `${first.e.name.replace(/^syscall:/, '')} fd ${first.fd}` : first.e.name;
    const label = `${members.length}× ${what}` + (bytes ? `, ${fmtBytes(bytes)}` : '') + `, ${fmtT(first.ms)}–${fmtT(last.ms)} ms`;
    return {id: 'b' + first.i, band: true, members, main: first, ms: first.ms, end: last.ms, label, bytes};
  }

  // ------------------------------------------------------------------------------ swimlane: drawing
  const AXIS_W = 92, PAD_TOP = 6, CHAR_W = 6.1;
  function laneWidth(name) { return MAIN_LANES.includes(name) ? 230 : 170; }
  function head(x, y, dir, cls) {   // an arrowhead pointing right (dir 1) or left (-1) at x
    return `<path class="fh-ah ${cls}" d="M${x} ${y} l${-8 * dir} -4 v8 z"/>`;
  }
  function tipOf(v) {
    const e = v.e;
    const where = v.kind === 'arrow' ? `wire, ${v.from} → ${v.to}` : e.lane;
    return `${fmtT(e.ms)} ms · ${where} · ${e.name}\nconnection ${e.connection} · request_id ${e.request_id} · value ${e.value}` +
      (e.detail ? '\n' + e.detail : '');
  }
  function itemTip(it) {
    if (!it.band) return [it.main].concat(it.tags).map(tipOf).join('\n\n');
    const shown = it.members.slice(0, 12).map((m) => `${fmtT(m.ms)} ${m.main.label}`).join('\n');
    return `${it.label}\n(click to ${it.open ? 'collapse' : 'expand'})\n${shown}${it.members.length > 12 ? `\n… ${it.members.length - 12} more` : ''}`;
  }
  // Geometry: the x of each lane's lifeline, the total width.
  function geometry(lanes) {
    const x = {};
    let at = AXIS_W;
    for (const n of lanes) { const w = laneWidth(n); x[n] = at + w / 2; at += w; }
    return {x, width: at + 24, lanes};
  }
  function laneHeader(model, geo) {
    const parts = model.lanes.map((n) => {
      const w = laneWidth(n) - 12;
      return `<text class="fh-lane-name" x="${geo.x[n]}" y="16">${esc(n)}</text>` +
        `<text class="fh-lane-who" x="${geo.x[n]}" y="30">${esc(clip(model.who[n] || (n === 'wire' ? 'capture' : ''), w / 5.6))}<title>${esc(model.who[n] || '')}</title></text>`;
    });
    return `<text class="fh-axis-head" x="${AXIS_W - 8}" y="16">ms</text>` + parts.join('');
  }
  // One row's drawing (item or band) at centre y; returns an SVG string.
  function drawItem(it, y, geo, rowH, labels) {
    const v = it.main, last = geo.lanes[geo.lanes.length - 1];
    const txt = (x, anchor, s, cls, room) => labels
      ? `<text class="fh-lbl ${cls || ''}" x="${x}" y="${y + 4}" text-anchor="${anchor}">${esc(clip(s, Math.max(4, room / CHAR_W)))}</text>` : '';
    const bandMark = it.band ? (it.open ? '▾ ' : '▸ ') : '';
    if (v.kind === 'arrow') {
      const x1 = geo.x[v.from], x2 = geo.x[v.to];
      if (x1 === undefined || x2 === undefined) return '';
      const dir = x2 > x1 ? 1 : -1, lo = Math.min(x1, x2), span = Math.abs(x2 - x1);
      const conn = geo.multi && !/^(SYN|FIN|RST) /.test(v.label) ? `c${v.e.connection} ` : '';
      const label = conn + (it.band ? it.label : [v.label].concat(it.tags.map(tagText)).join(' · '));
      if (it.band) {
        const h = Math.max(6, rowH - 6);
        return `<rect class="fh-band ${v.cls}" x="${lo + 4}" y="${y - h / 2}" width="${span - 8}" height="${h}" rx="3"/>` +
          head(x2 - dir * 2, y, dir, v.cls) + txt(lo + (dir < 0 ? 16 : 10), 'start', bandMark + label, 'fh-band-lbl', span * 1.6);
      }
      const cls = v.cls + (it.tags.some((t) => /bad/.test(t.cls)) ? ' bad' : '');
      return `<line class="fh-a ${cls}" x1="${x1}" y1="${y}" x2="${x2 - dir * 6}" y2="${y}"/>` + head(x2, y, dir, cls) +
        (labels ? `<text class="fh-lbl fh-albl ${cls}" x="${lo + span / 2}" y="${y - 3}" text-anchor="middle">${esc(clip(label, span / CHAR_W * 1.25))}</text>` : '');
    }
    const lane = geo.x[v.lane] !== undefined ? v.lane : last;
    const x = geo.x[lane], w = laneWidth(lane), right = lane !== last;
    const lx = right ? x + 9 : x - 9, anchor = right ? 'start' : 'end';
    const room = right ? geo.width - lx - 6 : lx - AXIS_W;   // labels may run over other lanes
    if (v.kind === 'fault' && !it.band) {
      const t = v.target && geo.x[v.target] !== undefined ? v.target : lane;
      const text = '⚡ ' + v.label, tw = Math.min(Math.max(laneWidth(t) - 8, text.length * 6.6 + 16), geo.width - AXIS_W - 8);
      const tx = Math.max(AXIS_W + 4, Math.min(geo.x[t] - tw / 2, geo.width - 4 - tw)), h = Math.max(8, rowH - 4);
      return `<line class="fh-fault-line" x1="${AXIS_W}" y1="${y}" x2="${geo.width - 20}" y2="${y}"/>` +
        (t !== lane ? `<circle class="fh-dot fault" cx="${x}" cy="${y}" r="5"/>` : '') +
        `<rect class="fh-fault" x="${tx}" y="${y - h / 2}" width="${tw}" height="${h}" rx="3"/>` +
        (labels ? `<text class="fh-fault-lbl" x="${tx + tw / 2}" y="${y + 4}" text-anchor="middle">${esc(clip(text, (tw - 12) / 6.6))}</text>` : '');
    }
    if (it.band) {
      const h = Math.max(6, rowH - 6);
      return `<rect class="fh-band ${v.cls}" x="${x - 14}" y="${y - h / 2}" width="28" height="${h}" rx="3"/>` +
        txt(right ? x + 18 : x - 18, anchor, bandMark + it.label, 'fh-band-lbl', room - 9);
    }
    const mark = v.sys ? `<rect class="fh-sq ${v.cls}" x="${x - 3.5}" y="${y - 3.5}" width="7" height="7"/>`
      : `<circle class="fh-dot ${v.cls}" cx="${x}" cy="${y}" r="4"/>`;
    return mark + txt(lx, anchor, v.label, v.cls, Math.min(room, w * 1.7));
  }
  // A pause: lifelines broken by zigzags, the skipped time printed in the time column.
  function drawGap(y, h, dt, geo) {
    const mid = y + h / 2;
    return `<rect class="fh-gap-bg" x="0" y="${y}" width="${geo.width}" height="${h}"/>` +
      geo.lanes.map((n) => `<path class="fh-gap-zig" d="M${geo.x[n] - 8} ${mid - 3} l4 6 l4 -6 l4 6 l4 -6"/>`).join('') +
      `<text class="fh-gap-lbl" x="${AXIS_W - 6}" y="${mid + 4}" text-anchor="end">… ${esc(fmtMs(dt))} …</text>`;
  }
  // Rows (gap, item, band, expanded members) with their y; at most `limit`.
  function layoutRows(entries, st, gap, rowH) {
    const rows = [], gapH = Math.max(18, rowH * 1.4);
    let y = PAD_TOP, lastEnd = null, hidden = 0;
    const push = (it, member) => {
      if (rows.length >= st.limit) { hidden++; return; }
      rows.push({it, y: y + rowH / 2, member});
      y += rowH;
    };
    for (const it of entries) {
      if (rows.length < st.limit && lastEnd !== null && it.ms - lastEnd >= gap) {
        rows.push({gap: it.ms - lastEnd, y, h: gapH});
        y += gapH;
      }
      lastEnd = lastEnd === null ? it.end : Math.max(lastEnd, it.end);
      if (it.band) it.open = st.open.has(it.id);
      push(it, false);
      if (it.band && it.open) it.members.forEach((m) => push(m, true));
    }
    return {rows, height: y + PAD_TOP, hidden};
  }
  function renderSvg(layout, geo, rowH) {
    const labels = rowH >= 12;
    const out = [];
    for (const n of geo.lanes) out.push(`<line class="fh-life fh-life-${esc(n)}" x1="${geo.x[n]}" y1="0" x2="${geo.x[n]}" y2="${layout.height}"/>`);
    layout.rows.forEach((r, i) => {
      if (r.gap !== undefined) { out.push(drawGap(r.y, r.h, r.gap, geo)); return; }
      const it = r.it, kind = it.band ? 'fh-row fh-bandrow' : 'fh-row';
      out.push(`<g class="${kind}${r.member ? ' fh-member' : ''}" data-i="${i}">` +
        `<rect class="fh-hit" x="0" y="${r.y - rowH / 2}" width="${geo.width}" height="${rowH}"/>` +
        (labels || !r.member ? `<text class="fh-axis${r.member ? ' fh-axis-member' : ''}" x="${AXIS_W - 8}" y="${r.y + 4}" text-anchor="end">${fmtT(it.ms)}</text>` : '') +
        (r.member ? `<line class="fh-bracket" x1="${AXIS_W - 3}" y1="${r.y - rowH / 2}" x2="${AXIS_W - 3}" y2="${r.y + rowH / 2}"/>` : '') +
        drawItem(it, r.y, geo, rowH, labels) + `<title>${esc(itemTip(it))}</title></g>`);
    });
    return out.join('');
  }

  // ------------------------------------------------------------------------------ swimlane: widget
  // Toolbar (zoom, filter, collapse), sticky lane header, the svg.fh-swimlane, an inspector
  // line for the clicked row, and "show more" past ROW_CAP rows.
  function createSwimlane(tl) {
    const model = buildModel(tl);
    const geo = Object.assign(geometry(model.lanes), {multi: model.multi});
    const st = {zoom: 1, query: '', collapse: true, limit: ROW_CAP, open: new Set(), layout: null, sel: null};
    const NS = 'http://www.w3.org/2000/svg';
    const svg = document.createElementNS(NS, 'svg'), headSvg = document.createElementNS(NS, 'svg');
    svg.setAttribute('class', 'fh-swimlane');
    headSvg.setAttribute('class', 'fh-swimlane-head');
    headSvg.setAttribute('width', geo.width);
    headSvg.setAttribute('height', 38);
    headSvg.innerHTML = laneHeader(model, geo);
    const stats = el('span', {class: 'fh-note fh-sl-stats'});
    const info = el('div', {class: 'fh-sl-info', 'aria-live': 'polite'}, 'Click a row for its events; click a band to expand it.');
    const more = el('button', {type: 'button', class: 'fh-more', hidden: true, onclick: () => { st.limit += ROW_CAP; render(); }});
    const filter = el('input', {type: 'search', class: 'fh-sl-filter', placeholder: 'filter events: words, -word excludes'});
    let timer = null;
    filter.addEventListener('input', () => { clearTimeout(timer); timer = setTimeout(() => { st.query = filter.value; st.limit = ROW_CAP; render(); }, 150); });
    const collapseBox = el('input', {type: 'checkbox', checked: true, onchange: (e) => { st.collapse = e.target.checked; render(); }});
    const zoom = (f) => { st.zoom = f === 0 ? 1 : Math.max(0.4, Math.min(3, st.zoom * f)); render(); };
    const toolbar = el('div', {class: 'fh-sl-toolbar'},
      el('button', {type: 'button', title: 'less vertical space', onclick: () => zoom(1 / 1.25)}, '−'),
      el('button', {type: 'button', title: 'more vertical space', onclick: () => zoom(1.25)}, '+'),
      el('button', {type: 'button', title: 'default spacing', onclick: () => zoom(0)}, '1:1'),
      filter, el('label', {}, collapseBox, ' collapse repeats'), stats);
    const scroll = el('div', {class: 'fh-sl-scroll'}, headSvg, svg);
    scroll.addEventListener('wheel', (e) => { if (e.ctrlKey) { e.preventDefault(); zoom(e.deltaY < 0 ? 1.15 : 1 / 1.15); } }, {passive: false});
    svg.addEventListener('click', (e) => {
      const g = e.target.closest && e.target.closest('g.fh-row');
      if (!g || !st.layout) return;
      const it = st.layout.rows[+g.dataset.i].it;
      if (it.band) { if (st.open.has(it.id)) st.open.delete(it.id); else st.open.add(it.id); }
      st.sel = it.id;
      if (it.band) render(); else markSelected();
      showInfo(it);
    });
    function markSelected() {
      svg.querySelectorAll('g.fh-sel').forEach((g) => g.classList.remove('fh-sel'));
      if (!st.layout) return;
      st.layout.rows.forEach((r, i) => { if (r.it && r.it.id === st.sel) { const g = svg.querySelector(`g[data-i="${i}"]`); if (g) g.classList.add('fh-sel'); } });
    }
    function showInfo(it) {
      const line = (v) => el('div', {class: 'fh-ev'}, el('span', {class: 'fh-ev-ms'}, fmtT(v.e.ms) + ' ms'), ' ',
        el('strong', {}, v.kind === 'arrow' ? `${v.from} → ${v.to}` : v.e.lane), ' ', el('code', {}, v.e.name),
        el('span', {class: 'fh-note'}, ` conn ${v.e.connection} · req ${v.e.request_id} · value ${v.e.value}`),
        v.e.detail ? el('div', {class: 'fh-ev-detail'}, v.e.detail) : null);
      info.textContent = '';
      if (it.band) {
        info.append(el('div', {}, el('strong', {}, it.label), it.open ? ' (expanded below; click again to collapse)' : ' (collapsed; click to expand)'));
        it.members.slice(0, 50).forEach((m) => info.append(line(m.main)));
        if (it.members.length > 50) info.append(el('div', {class: 'fh-note'}, `… ${it.members.length - 50} more`));
      } else [it.main].concat(it.tags).forEach((v) => info.append(line(v)));
    }
    function render() {
      const rowH = Math.round(20 * st.zoom);
      const items = toItems(filterViews(model.views, st.query));
      const gap = gapThreshold(items);
      const entries = st.collapse ? collapse(items, gap) : items;
      st.layout = layoutRows(entries, st, gap, rowH);
      svg.setAttribute('width', geo.width);
      svg.setAttribute('height', st.layout.height);
      svg.setAttribute('viewBox', `0 0 ${geo.width} ${st.layout.height}`);
      svg.innerHTML = renderSvg(st.layout, geo, rowH);
      const bands = entries.filter((x) => x.band).length, shown = items.reduce((n, it) => n + 1 + it.tags.length, 0);
      stats.textContent = `${shown === model.views.length ? plural(shown, 'event') : `${shown} of ${plural(model.views.length, 'event')}`} · ` +
        plural(st.layout.rows.length, 'row') + (bands ? ' · ' + plural(bands, 'band') : '');
      more.hidden = st.layout.hidden === 0;
      more.textContent = `show ${Math.min(ROW_CAP, st.layout.hidden)} more rows (${st.layout.hidden} not drawn)`;
      markSelected();
    }
    render();
    return el('div', {class: 'fh-sl'}, toolbar, scroll, more, info);
  }

  // ------------------------------------------------------------------------------ modes
  function hashCell() {
    const m = /^#cell=(\d+):(.+)$/.exec(location.hash);
    if (!m) return null;
    try { return {col: +m[1], row: decodeURIComponent(m[2])}; } catch (e) { return null; }
  }
  function cellHash(col, row) { return `#cell=${col}:${encodeURIComponent(row).replace(/%2F/g, '/')}`; }

  function bootMatrix(app, ix) {
    const data = ix.data;
    const parties = findParties(data);
    const table = buildMatrix(ix, parties);
    const detail = el('section', {id: 'fh-detail', class: 'fh-detail', 'aria-live': 'polite'});
    let current = null, party = parties ? parties.list[0].id : '';
    const tabs = parties ? buildPartyTabs(parties, data.columns.length, (id) => setParty(id)) : null;
    const refresh = () => applyFilters(ix, table, parties, party);
    const setParty = (id) => {
      party = id;
      if (tabs) tabs.querySelectorAll('.fh-tab').forEach((b) => b.setAttribute('aria-selected', String(b.dataset.party === id)));
      table.dataset.party = id;
      refresh();
    };
    const open = (col, row, how) => {
      const r = ix.rows.get(row);
      if (!r || !data.columns[col]) return;
      if (parties && party) {     // a cell of another tab: switch to it
        const want = parties.colParty[col] || parties.rowParty.get(row) || party;
        if (want !== party) setParty(want);
      }
      current = pairKey(col, row);
      table.querySelectorAll('td.fh-selected').forEach((td) => td.classList.remove('fh-selected'));
      const td = table.querySelector(`td.fh-cell[data-col="${col}"][data-row="${CSS.escape(row)}"]`);
      if (td) td.classList.add('fh-selected');
      detail.textContent = '';
      detail.append(...detailView(ix, col, r, ix.cell(col, row)).filter(Boolean));
      detail.querySelector('.fh-back').addEventListener('click', () => back(td));
      if (how !== 'hash' && location.hash !== cellHash(col, row)) history.pushState(null, '', cellHash(col, row));
      detail.scrollIntoView({block: 'start'});
    };
    const back = (td) => { if (td) { td.scrollIntoView({block: 'center'}); td.focus(); } };
    detail.addEventListener('keydown', (e) => { if (e.key === 'Escape') back(table.querySelector('td.fh-selected')); });
    const openTd = (td) => open(+td.dataset.col, td.dataset.row, 'click');
    table.addEventListener('click', (e) => { const td = e.target.closest('td.fh-cell'); if (td) openTd(td); });
    matrixKeys(table, openTd);
    const fromHash = () => { const h = hashCell(); if (h && pairKey(h.col, h.row) !== current) open(h.col, h.row, 'hash'); };
    window.addEventListener('hashchange', fromHash);
    window.addEventListener('popstate', fromHash);
    const n = data.columns.length, nchecks = new Set(data.rows.map((r) => splitVariant(r.key).check)).size;
    const what = nchecks === data.rows.length ? plural(nchecks, 'check') : `${plural(nchecks, 'check')} (${data.rows.length} rows with their variants)`;
    app.append(...[
      buildHeader(data, `${what} × ${plural(n, 'column')}, ${plural(data.cells.length, 'result')}`),
      legendBox([gradeLegend(), swimLegend()], false),
      tabs,
      buildFilters(ix, refresh),
      el('div', {class: 'fh-matrix-wrap'}, table),
      detail].filter(Boolean));
    setParty(party);
    if (!data.rows.length) detail.append(el('p', {class: 'fh-note'}, 'The results have no rows.'));
    fromHash();
  }

  function bootTimeline(app, ix) {
    const data = ix.data, tl = data.timelines[0], cell = data.cells[0] || null, row = data.rows[0] || {};
    const verdict = (tl && tl.verdict) || (cell && cell.verdict) || 'NOT-RUN';
    app.append(buildHeader(data, 'one run\'s timeline'));
    app.append(el('div', {class: 'fh-tl-head'},
      el('h2', {}, levelBadge(row.level), ' ', (tl && tl.scenario) || row.key || 'timeline', ' ', gradeChip(verdict, cell && cell.expected)),
      row.title ? el('p', {}, row.title) : null,
      row.requirement ? el('blockquote', {class: 'fh-requirement'}, row.requirement) : null,
      el('pre', {class: 'fh-reason'}, (tl && tl.reason) || (cell && cell.reason) || ''),
      cell && cell.files && cell.files.length ? evidenceBlock(cell) : null));
    app.append(el('section', {id: 'fh-timeline'}, tl ? createSwimlane(tl) : el('p', {class: 'fh-note'}, 'DATA has no timeline.')));
    if (cell && cell.requests && cell.requests.length) app.append(section('Requests', requestsTable(cell.requests)));
    app.append(legendBox([swimLegend()], true));
  }

  function boot() {
    const app = document.getElementById('fh-app') || document.body.appendChild(el('div', {id: 'fh-app'}));
    let data;
    try {
      data = JSON.parse(document.getElementById('fh-report-data').textContent);
    } catch (e) {
      app.append(el('p', {class: 'fh-fatal'}, 'This report\'s embedded data cannot be read: ' + e.message));
      return;
    }
    const ix = indexData(data);
    document.body.classList.add('fh-mode-' + (data.mode === 'timeline' ? 'timeline' : 'matrix'));
    if (data.mode === 'timeline') bootTimeline(app, ix); else bootMatrix(app, ix);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
})();
