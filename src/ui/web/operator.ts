/**
 * The operator page (`/`): live throughput and load from `GET /v1/node/status` (the numbers of
 * `/metrics`; rates are differences of two readings), adapters by tier, the engine, recent
 * receipts, and with the admin token the money (`/admin/node/money`) and network
 * (`/admin/node/network`) parts. Read-only: it changes nothing on the node.
 */
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { html, nothing, render, type TemplateResult } from 'lit-html';
import type { MoneyStatus, NetworkStatus, NodeStatus } from '../../api/statusSchemas.ts';
import { adminToken, setAdminToken } from './adminToken.ts';
import { liveChart, type LiveChart } from './charts.ts';
import { bytes, num, relative, short, tokens } from './format.ts';
import { getJson, HttpError } from './http.ts';

/** Milliseconds between readings. */
const POLL_MS = 1000;
const RECEIPTS_PAGE = 10;

interface Rates {
  completionTokensPerS: number;
  promptTokensPerS: number;
  requestsPerS: number;
  msPerStep: number;
  adapters: Map<string, { requestsPerS: number; tokensPerS: number }>;
}

interface ReceiptRow {
  digest: string;
  payer: string;
  receipt: { seq: string; adapterId: string; channelId: string; promptTokens: number; completionTokens: number; amount: string; timestamp: string };
}

const state: {
  status?: NodeStatus;
  rates?: Rates;
  error?: string;
  money?: MoneyStatus;
  network?: NetworkStatus;
  networkRates?: Map<string, number>;
  adminError?: string;
  receipts: { rows: ReceiptRow[]; cursors: string[]; next: string | null; error?: string };
} = { receipts: { rows: [], cursors: [], next: null } };

function rates(prev: NodeStatus, cur: NodeStatus): Rates {
  const dt = Math.max(0.001, (cur.time - prev.time) / 1000);
  const d = (a: number, b: number) => Math.max(0, b - a) / dt;
  const steps = cur.live.steps_total - prev.live.steps_total;
  const before = new Map(prev.adapters.map((a) => [a.id, a]));
  const adapters = new Map<string, { requestsPerS: number; tokensPerS: number }>();
  for (const a of cur.adapters) {
    const p = before.get(a.id);
    adapters.set(a.id, { requestsPerS: p ? d(p.requests_total, a.requests_total) : 0, tokensPerS: p ? d(p.tokens_total, a.tokens_total) : 0 });
  }
  return {
    completionTokensPerS: d(prev.live.tokens_completion_total, cur.live.tokens_completion_total),
    promptTokensPerS: d(prev.live.tokens_prompt_total, cur.live.tokens_prompt_total),
    requestsPerS: d(prev.live.requests_total, cur.live.requests_total),
    msPerStep: steps > 0 ? ((cur.live.step_seconds_total - prev.live.step_seconds_total) / steps) * 1000 : 0,
    adapters,
  };
}

const stat = (label: string, value: string, testid: string, title = '') => html`<div class="stat" title=${title}><span class="label">${label}</span><span class="value" data-testid=${testid}>${value}</span></div>`;

function header(s: NodeStatus | undefined): TemplateResult {
  return html`<header>
    <h1>openlora node</h1>
    ${s
      ? html`<span class="badge" data-testid="payment-mode">${s.payment_mode}</span><span class="muted">model <b>${s.model}</b> · node <code title=${s.node}>${short(s.node)}</code> · up ${relative(Date.now() - s.uptime_s * 1000).replace(' ago', '')} ·
          <span data-testid="version" title=${`commit ${s.version.commit}\nshaders ${s.version.shader_hash}`}>v${s.version.version} (${s.version.build}, ${s.version.commit.slice(0, 10)}, shaders ${s.version.shader_hash.slice(0, 12)})</span></span>`
      : nothing}
    <nav><a href="rewards">Contributor rewards</a> · <a href="metrics">/metrics</a> · <a href="openapi.json">API</a></nav>
  </header>`;
}

function live(s: NodeStatus, r: Rates | undefined): TemplateResult {
  return html`<section class="stats">
    ${stat('tokens/s', r ? num(r.completionTokensPerS) : '…', 'tokens-per-s', 'completion tokens per second')}
    ${stat('prefill tokens/s', r ? num(r.promptTokensPerS) : '…', 'prefill-per-s')}
    ${stat('requests/s', r ? num(r.requestsPerS, 2) : '…', 'requests-per-s')}
    ${stat('queue depth', String(s.live.queue_depth), 'queue-depth')}
    ${stat('batch size', String(s.live.batch_sequences), 'batch-size', 'sequences in the last engine step')}
    ${stat('KV blocks used', `${s.live.kv_blocks_used} / ${s.live.kv_blocks_total}`, 'kv-blocks')}
    ${s.live.memory_pages ? stat('memory pages', `KV ${s.live.memory_pages.kv} · adapters ${s.live.memory_pages.adapters} · free ${s.live.memory_pages.free}`, 'memory-pages', 'unified memory: pages of one budget by holder') : ''}
    ${stat('time per step', r && r.msPerStep > 0 ? `${num(r.msPerStep)} ms` : '—', 'ms-per-step')}
    ${stat('receipts', String(s.live.receipts_total), 'receipts-total', 'signed since start')}
  </section>`;
}

function engine(s: NodeStatus): TemplateResult {
  const e = s.engine;
  const m = e.memory;
  return html`<section class="card" data-testid="engine">
    <h2>Engine</h2>
    <dl>
      <dt>backend</dt><dd>${e.backend}</dd>
      <dt>adapter</dt><dd>${e.adapter ? html`${e.adapter.vendor} ${e.adapter.device || e.adapter.architecture} <span class="badge">${e.adapter.software ? 'software' : 'hardware'}</span><div class="muted">${e.adapter.description}</div>` : 'CPU reference'}</dd>
      <dt>model</dt><dd>${s.model} · ${e.dtype} · context ${e.context_length}</dd>
      <dt>KV cache</dt><dd>${e.kv_blocks} blocks × ${e.kv_block_tokens} tokens · ${bytes(m.kv_cache_bytes)}</dd>
      <dt>LoRA slots</dt><dd>${e.lora_slots} up to rank ${e.lora_max_rank} in ${e.lora_dtype} · ${m.adapters_in_pages ? 'adapters in pages of the KV pool' : bytes(m.lora_slots_bytes)}</dd>
      <dt>memory</dt><dd>${m.mode === 'unified' ? `unified: ${m.budget_pages} pages of ${bytes(m.page_bytes)} (${bytes((m.budget_pages ?? 0) * (m.page_bytes ?? 0))}) shared by KV blocks and adapters at their own rank` : 'split: KV blocks and adapter slots sized apart'}</dd>
      <dt>memory budget</dt><dd>weights ${bytes(m.weights_bytes)} · KV ${bytes(m.kv_cache_bytes)} · slots ${bytes(m.lora_slots_bytes)} · host cache ${bytes(m.host_cache_budget_bytes)}</dd>
    </dl>
  </section>`;
}

function adapters(s: NodeStatus, r: Rates | undefined): TemplateResult {
  const t = s.tiers;
  const tiers = [
    { tier: 'gpu', title: `GPU slots (${t.gpu.resident}/${t.gpu.slots})`, detail: `loads ${t.gpu.loads} · evictions ${t.gpu.evictions} · hits ${t.gpu.hits} · misses ${t.gpu.misses} · avg load ${num(t.gpu.avg_load_ms)} ms` },
    { tier: 'host', title: `Host memory (${t.host.entries})`, detail: `${bytes(t.host.bytes)} of ${bytes(t.host.budget_bytes)} · loads ${t.host.loads} · evictions ${t.host.evictions} · hits ${t.host.hits} · misses ${t.host.misses}` },
    { tier: 'disk', title: 'Disk only', detail: `${t.disk.adapters} registered in all` },
  ] as const;
  return html`<section class="card">
    <h2>Adapters by tier</h2>
    ${tiers.map(({ tier, title, detail }) => {
      const rows = s.adapters.filter((a) => a.tier === tier);
      return html`<div class="tier" data-tier=${tier}>
        <h3>${title}</h3><div class="muted">${detail}</div>
        ${rows.length
          ? html`<table><thead><tr><th>adapter</th><th>rank</th><th>requests/s</th><th>tokens/s (prompt + completion)</th><th>requests</th><th>slot loads</th><th>evictions</th></tr></thead><tbody>
              ${rows.map((a) => {
                const ar = r?.adapters.get(a.id);
                return html`<tr data-adapter=${a.name}><td><b>${a.name}</b> <code title=${a.lane_id}>${short(a.lane_id)}</code></td><td>${a.rank}</td><td>${ar ? num(ar.requestsPerS, 2) : '…'}</td><td>${ar ? num(ar.tokensPerS) : '…'}</td><td>${a.requests_total}</td><td>${a.loads}</td><td>${a.evictions}</td></tr>`;
              })}
            </tbody></table>`
          : html`<p class="muted">none</p>`}
      </div>`;
    })}
    ${s.adapters_total > s.adapters.length ? html`<p class="muted">${s.adapters_total - s.adapters.length} more not listed</p>` : nothing}
  </section>`;
}

function receipts(): TemplateResult {
  const page = state.receipts;
  return html`<section class="card">
    <h2>Recent receipts</h2>
    ${page.error ? html`<p class="error">${page.error}</p>` : nothing}
    <table><thead><tr><th>seq</th><th>time</th><th>adapter</th><th>channel</th><th>tokens</th><th>amount</th></tr></thead><tbody>
      ${page.rows.map((row) => {
        const r = row.receipt;
        return html`<tr><td><a href=${`v1/receipts/${r.seq}`} data-testid="receipt-link">${r.seq}</a></td><td>${relative(Number(r.timestamp) * 1000)}</td><td><code title=${r.adapterId}>${short(r.adapterId)}</code></td><td><code title=${r.channelId}>${short(r.channelId)}</code></td><td>${r.promptTokens} + ${r.completionTokens}</td><td title=${r.amount}>${tokens(r.amount)}</td></tr>`;
      })}
    </tbody></table>
    <div class="pager">
      <button ?disabled=${page.cursors.length === 0} @click=${() => void loadReceipts(page.cursors.slice(0, -1), page.cursors.at(-2) ?? null)}>newer</button>
      <button ?disabled=${page.next === null} @click=${() => void loadReceipts([...page.cursors, page.next!], page.next)}>older</button>
    </div>
  </section>`;
}

function admin(): TemplateResult {
  const token = adminToken();
  const form = html`<form
    class="admin-form"
    @submit=${(e: Event) => {
      e.preventDefault();
      const input = (e.target as HTMLFormElement).elements.namedItem('token') as HTMLInputElement;
      setAdminToken(input.value.trim() || null);
      input.value = '';
      void pollAdmin();
    }}
  >
    <label>Admin token <input name="token" type="password" autocomplete="off" placeholder=${token ? 'set for this tab' : 'api.adminToken'} /></label>
    <button type="submit">${token ? 'Replace' : 'Unlock'}</button>
    ${token ? html`<button type="button" @click=${() => { setAdminToken(null); state.money = undefined; state.network = undefined; draw(); }}>Forget</button>` : nothing}
  </form>`;
  return html`<section class="card">
    <h2>Money and network <span class="muted">(admin)</span></h2>
    ${form}
    ${state.adminError ? html`<p class="error" data-testid="admin-error">${state.adminError}</p>` : nothing}
    ${state.money ? money(state.money) : nothing}
    ${state.network ? network(state.network) : nothing}
  </section>`;
}

function money(m: MoneyStatus): TemplateResult {
  if (m.payment_mode === 'open') return html`<p class="muted" data-testid="money-open">Open mode: requests are metered in receipts, nothing is settled on-chain.</p>`;
  const s = m.settlement;
  return html`<div data-testid="money">
    <h3>Money</h3>
    <section class="stats">
      ${stat('charged', tokens(m.totals.charged), 'money-charged', m.totals.charged)}
      ${stat('acknowledged', tokens(m.totals.acknowledged), 'money-acknowledged', m.totals.acknowledged)}
      ${stat('settled', tokens(m.totals.settled), 'money-settled', m.totals.settled)}
      ${stat('pending settlement', tokens(m.totals.pending_settlement), 'money-pending', m.totals.pending_settlement)}
      ${stat('next settlement', s?.next_at ? relative(s.next_at) : 'nothing to settle', 'next-settlement', s ? `epoch ${num(s.epoch_ms / 1000, 0)} s, or at once past ${tokens(s.threshold)}` : '')}
      ${m.chain ? stat('credits', tokens(BigInt(m.chain.credits.payment_channels) + BigInt(m.chain.credits.node_registry)), 'node-credits', `PaymentChannels ${m.chain.credits.payment_channels}, NodeRegistry ${m.chain.credits.node_registry}`) : nothing}
      ${m.chain ? stat('stake', `${tokens(m.chain.stake)}${m.chain.registered ? '' : ' (not registered)'}`, 'node-stake', m.chain.stake) : nothing}
    </section>
    ${m.chain?.error ? html`<p class="error">chain: ${m.chain.error}</p>` : nothing}
    <h4>Lanes</h4>
    <table><thead><tr><th>channel</th><th>adapter</th><th>charged</th><th>acknowledged</th><th>settled</th><th>pending settlement</th><th>unacknowledged</th></tr></thead><tbody>
      ${m.lanes.map(
        (l) => html`<tr data-lane=${`${l.channel_id}:${l.adapter_id}`} data-settled=${l.settled} data-acknowledged=${l.acknowledged} data-charged=${l.charged}>
          <td><code title=${l.channel_id}>${short(l.channel_id)}</code></td><td>${l.name ?? ''} <code title=${l.adapter_id}>${short(l.adapter_id)}</code></td>
          <td title=${l.charged}>${tokens(l.charged)}</td><td title=${l.acknowledged}>${tokens(l.acknowledged)}</td><td title=${l.settled} data-testid="lane-settled">${tokens(l.settled)}</td><td title=${l.pending_settlement}>${tokens(l.pending_settlement)}</td><td title=${l.unacknowledged}>${tokens(l.unacknowledged)}</td>
        </tr>`,
      )}
    </tbody></table>
    <h4>Credit in use per channel</h4>
    <table><thead><tr><th>channel</th><th>lanes</th><th>in use</th><th>limit</th><th></th></tr></thead><tbody>
      ${m.channels.map((c) => {
        const used = BigInt(c.credit_in_use);
        const limit = BigInt(c.credit_limit);
        const pct = limit > 0n ? Number((used * 1000n) / limit) / 10 : 0;
        return html`<tr data-channel=${c.channel_id}><td><code title=${c.channel_id}>${short(c.channel_id)}</code></td><td>${c.lanes}</td><td title=${c.credit_in_use}>${tokens(c.credit_in_use)}</td><td>${tokens(c.credit_limit)}</td><td><meter min="0" max="100" value=${pct}></meter> ${num(pct)}%</td></tr>`;
      })}
    </tbody></table>
    ${s
      ? html`<h4>Settlements</h4>
          <p class="muted">last ${s.last_at ? relative(s.last_at) : 'never'} · backlog ${tokens(s.backlog.amount)} on ${s.backlog.lanes} lane(s), oldest ${num(s.backlog.oldest_s, 0)} s</p>
          <table><thead><tr><th>#</th><th>status</th><th>lanes</th><th>amount</th><th>tx</th><th>block</th></tr></thead><tbody>
            ${s.recent.map((t) => html`<tr><td>${t.id}</td><td>${t.status}${t.error ? html` <span class="error">${t.error}</span>` : nothing}</td><td>${t.lanes}</td><td>${tokens(t.amount)}</td><td><code title=${t.tx_hash ?? ''}>${t.tx_hash ? short(t.tx_hash) : ''}</code></td><td>${t.block ?? ''}</td></tr>`)}
          </tbody></table>`
      : nothing}
  </div>`;
}

function network(n: NetworkStatus): TemplateResult {
  if (!n.enabled) return html`<h3>Network</h3><p class="muted" data-testid="p2p-off">P2P is off on this node (p2p.enabled).</p>`;
  const r = state.networkRates;
  return html`<div data-testid="network">
    <h3>Network</h3>
    <p class="muted">peer <code>${n.peer_id}</code> · ${n.multiaddrs.map((a) => html`<code>${a}</code> `)}</p>
    <h4>Gossip (messages/s)</h4>
    <table><thead><tr><th>topic</th>${['accept', 'ignore', 'reject'].map((v) => html`<th>${v}</th>`)}</tr></thead><tbody>
      ${Object.entries(n.messages).map(([topic, byVerdict]) => html`<tr><td>${topic}</td>${['accept', 'ignore', 'reject'].map((v) => html`<td title=${`${byVerdict[v] ?? 0} in all`}>${num(r?.get(`${topic}/${v}`) ?? 0, 2)}</td>`)}</tr>`)}
    </tbody></table>
    <h4>Peers (${n.peers.length})</h4>
    <table><thead><tr><th>peer</th><th>score</th></tr></thead><tbody>${n.peers.map((p) => html`<tr><td><code>${p.peer_id}</code></td><td>${num(p.score, 2)}</td></tr>`)}</tbody></table>
    <h4>Known nodes (${n.nodes.length})</h4>
    <table><thead><tr><th>node</th><th>url</th><th>announced</th></tr></thead><tbody>${n.nodes.map((x) => html`<tr><td><code>${x.node}</code></td><td>${x.url}</td><td>${relative(x.seen_at)}</td></tr>`)}</tbody></table>
    <h4>Flagged nodes (${n.flagged.length})</h4>
    <table><thead><tr><th>node</th><th>what</th><th>when</th></tr></thead><tbody>${n.flagged.map((f) => html`<tr><td><code>${f.node}</code></td><td>${f.kind}: ${f.detail}</td><td>${relative(f.at)}</td></tr>`)}</tbody></table>
  </div>`;
}

const root = document.getElementById('app')!;
root.innerHTML = '<div id="top"></div><section class="charts"><div id="chart-tokens"></div><div id="chart-load"></div><div id="chart-step"></div></section><div id="rest"></div>';
let charts: { tokens: LiveChart; load: LiveChart; step: LiveChart } | undefined;

function draw(): void {
  const s = state.status;
  render(html`${header(s)}${state.error ? html`<p class="error" data-testid="error">${state.error}</p>` : nothing}${s ? live(s, state.rates) : html`<p>Waiting for the node…</p>`}`, document.getElementById('top')!);
  render(s ? html`${adapters(s, state.rates)}${engine(s)}${receipts()}${admin()}` : nothing, document.getElementById('rest')!);
}

async function loadReceipts(cursors: string[], after: string | null): Promise<void> {
  try {
    const page = await getJson<{ data: ReceiptRow[]; next: string | null }>(`v1/receipts?order=desc&limit=${RECEIPTS_PAGE}${after ? `&after=${after}` : ''}`);
    state.receipts = { rows: page.data, cursors, next: page.next };
  } catch (error) {
    state.receipts.error = (error as Error).message;
  }
  draw();
}

async function pollStatus(): Promise<void> {
  try {
    const next = await getJson<NodeStatus>('v1/node/status');
    if (state.status) {
      state.rates = rates(state.status, next);
      charts ??= {
        tokens: liveChart(document.getElementById('chart-tokens')!, 'Throughput', [
          { label: 'tokens/s', stroke: '#2563eb' },
          { label: 'prefill tokens/s', stroke: '#93c5fd' },
          { label: 'requests/s', stroke: '#16a34a' },
        ]),
        load: liveChart(document.getElementById('chart-load')!, 'Load', [
          { label: 'queue depth', stroke: '#dc2626' },
          { label: 'batch size', stroke: '#9333ea' },
          { label: 'KV blocks used', stroke: '#ea580c' },
        ]),
        step: liveChart(document.getElementById('chart-step')!, 'Time per step (ms)', [{ label: 'ms/step', stroke: '#0891b2' }]),
      };
      const r = state.rates;
      charts.tokens.push(next.time, [r.completionTokensPerS, r.promptTokensPerS, r.requestsPerS]);
      charts.load.push(next.time, [next.live.queue_depth, next.live.batch_sequences, next.live.kv_blocks_used]);
      charts.step.push(next.time, [r.msPerStep]);
    }
    if (!state.status || next.live.receipts_total !== state.status.live.receipts_total) {
      if (state.receipts.cursors.length === 0) void loadReceipts([], null);
    }
    state.status = next;
    state.error = undefined;
  } catch (error) {
    state.error = `The node does not answer: ${(error as Error).message}`;
  }
  draw();
}

async function pollAdmin(): Promise<void> {
  const token = adminToken();
  if (!token) return;
  const headers = { authorization: `Bearer ${token}` };
  try {
    const [m, n] = await Promise.all([getJson<MoneyStatus>('admin/node/money', { headers }), getJson<NetworkStatus>('admin/node/network', { headers })]);
    if (state.network && n.enabled) {
      const dt = Math.max(0.001, (n.time - state.network.time) / 1000);
      const rates = new Map<string, number>();
      for (const [topic, byVerdict] of Object.entries(n.messages)) for (const [v, count] of Object.entries(byVerdict)) rates.set(`${topic}/${v}`, Math.max(0, count - (state.network.messages[topic]?.[v] ?? 0)) / dt);
      state.networkRates = rates;
    }
    state.money = m;
    state.network = n;
    state.adminError = undefined;
  } catch (error) {
    state.adminError = error instanceof HttpError && (error.status === 401 || error.status === 403) ? error.message : `Admin parts unavailable: ${(error as Error).message}`;
    if (error instanceof HttpError && error.status === 401) setAdminToken(null);
  }
  draw();
}

draw();
void pollStatus();
void pollAdmin();
setInterval(() => void pollStatus(), POLL_MS);
setInterval(() => void pollAdmin(), 2 * POLL_MS);
