/** `/app.css`: the stylesheet of the app shell. */
export const PAGE_STYLE = `
*{box-sizing:border-box}
body{font:14px/1.4 system-ui,sans-serif;margin:0;background:#f4f6f4;color:#1d2a1f}
header{display:flex;align-items:center;gap:1.5rem;padding:.6rem 1.2rem;background:#2f6b3a;color:#fff}
header h1{font-size:1.1rem;margin:0}
header nav{display:flex;gap:1rem;flex:1}
header nav a{color:#dfe;text-decoration:none;padding:.2rem .4rem;border-radius:4px}
header nav a.active{background:#fff3;color:#fff}
header button{background:transparent;color:#fff;border:1px solid #fff8;border-radius:4px;padding:.2rem .6rem;cursor:pointer}
.count{background:#fff;color:#2f6b3a;border-radius:8px;padding:0 .4rem;font-size:.8rem}.count:empty{display:none}
.live{font-size:.8rem;opacity:.8}.live.on::before{content:"\\25CF ";color:#7f7}.live.off::before{content:"\\25CF ";color:#f77}
main{padding:1rem 1.2rem}
h2{font-size:1rem;margin:1.2rem 0 .4rem}
.cards{display:flex;gap:1rem;flex-wrap:wrap}
.card{background:#fff;border-radius:6px;padding:.6rem 1rem;box-shadow:0 1px 2px #0001;min-width:9rem}
.card b{display:block;font-size:1.4rem}.card span{color:#567;font-size:.8rem}
.charts{display:flex;gap:1rem;flex-wrap:wrap}
figure{background:#fff;margin:1rem 0 0;padding:.5rem;border-radius:6px;flex:1;min-width:320px;box-shadow:0 1px 2px #0001}
figcaption{font-size:.8rem;color:#567}
svg{width:100%;height:auto;display:block}
svg .grid{stroke:#e3e8e3;stroke-width:1}
svg .axis{fill:#789;font-size:10px}
svg .line{fill:none;stroke-width:1.5;vector-effect:non-scaling-stroke}
.ok,svg .succeeded{color:#2f8f46;stroke:#2f8f46}.bad,svg .failed{color:#c0392b;stroke:#c0392b}
.p50,svg .p50{color:#2a6fb0;stroke:#2a6fb0}.p95,svg .p95{color:#b07a2a;stroke:#b07a2a}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0001}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #e6ebe6;vertical-align:top}
th{background:#eef2ee;font-weight:600;font-size:.8rem}
td.mono,.mono{font-family:ui-monospace,monospace;font-size:.8rem;word-break:break-all}
td.args{max-width:24rem;white-space:pre-wrap}
.state{border-radius:4px;padding:0 .35rem;font-size:.75rem;font-weight:600;background:#e6e9ee}
.state-SUCCESS{background:#d5f0dc;color:#1f6b33}.state-FAILURE,.state-REJECTED{background:#f6d6d2;color:#8e2418}
.state-RETRY{background:#fbe9c8;color:#7a5410}.state-STARTED,.state-PROGRESS{background:#d6e6f7;color:#1d4f80}
.state-REVOKED{background:#e9dcf3;color:#5b2d80}
.offline{color:#999}
.inline{display:flex;gap:.5rem;align-items:center;margin:.5rem 0;flex-wrap:wrap}
input,select,button{font:inherit;padding:.3rem .5rem}
button{cursor:pointer;border:1px solid #9ab;border-radius:4px;background:#fff}
button.danger{border-color:#c0392b;color:#c0392b}
#task-detail{background:#fff;margin-top:1rem;padding:.5rem 1rem;border-radius:6px;box-shadow:0 1px 2px #0001}
dl{display:grid;grid-template-columns:10rem 1fr;gap:.3rem 1rem}dt{color:#567}dd{margin:0}
pre{margin:0;white-space:pre-wrap;word-break:break-word;font-size:.8rem;background:#f6f8f6;padding:.3rem}
.error{color:#a11}
tr.clickable{cursor:pointer}tr.clickable:hover{background:#f3f7f3}
#toast{position:fixed;bottom:1rem;right:1rem;background:#1d2a1f;color:#fff;padding:.5rem 1rem;border-radius:4px;opacity:0;transition:opacity .3s}
#toast.show{opacity:.95}
`;
