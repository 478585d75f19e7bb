/**
 * The contributor page (`/rewards`): an address's Proof-of-Attribution rewards per adapter (weight,
 * share, accrued, claimed, claimable) and the Datanet contributions behind them, read from the
 * chain with viem, from the published attribution reports; claim with an EIP-1193 wallet, or copy
 * the `openlora claim` command. The same computation as `openlora rewards` (src/attribution/rewards.ts).
 *
 * Served by a node it reads the node's deployment and reports (`GET /v1/chain`,
 * `GET /v1/attribution/reports`). As a static page it takes them from its query string:
 * `rewards.html?rpc=URL&deployment=URL&report=URL&report=URL[&address=0x…]`.
 */
import './style.css';
import { html, nothing, render } from 'lit-html';
import { createPublicClient, createWalletClient, custom, defineChain, getAddress, http, isAddress, isAddressEqual, type Address, type EIP1193Provider, type PublicClient } from 'viem';
import type { Deployment } from '../../chain/deployment.ts';
import { claimRewards, rewardsOf, type AdapterRewards } from '../../attribution/rewards.ts';
import { parseAttributionReport, type AttributionReport } from '../../attribution/report.ts';
import { tokens, short } from './format.ts';
import { getJson } from './http.ts';

declare global {
  interface Window {
    ethereum?: EIP1193Provider;
  }
}

interface Source {
  deployment: Deployment;
  /** Where the deployment file can be fetched (for the CLI command), if anywhere. */
  deploymentUrl: string | null;
  rpcUrl: string | null;
  reports: Array<{ report: AttributionReport; url: string; name: string | null }>;
}

const params = new URLSearchParams(location.search);
const state: {
  source?: Source;
  address?: Address;
  connected?: Address;
  rows?: AdapterRewards[];
  loading: boolean;
  error?: string;
  claim?: { status: 'sending' | 'done' | 'failed'; text: string };
} = { loading: false };

const absolute = (url: string) => new URL(url, location.href).href;

/** A deployment from JSON: the fields the page reads, checked. */
function deploymentFrom(json: unknown, where: string): Deployment {
  const d = json as Deployment;
  const c = d?.contracts;
  if (!Number.isInteger(d?.chainId) || !c || ![c.adapterRegistry, c.attributionRewards].every((a) => typeof a === 'string' && isAddress(a))) {
    throw new Error(`${where} is not an openlora deployment (chainId and contract addresses).`);
  }
  return d;
}

async function loadSource(): Promise<Source> {
  const staticDeployment = params.get('deployment');
  if (staticDeployment) {
    const inline = staticDeployment.trim().startsWith('{');
    const deployment = deploymentFrom(inline ? JSON.parse(staticDeployment) : await getJson(staticDeployment), 'the deployment parameter');
    const urls = params.getAll('report').flatMap((r) => r.split(',')).filter(Boolean);
    const reports = await Promise.all(urls.map(async (url) => ({ report: parseAttributionReport(await getJson(url), url), url: absolute(url), name: null })));
    return { deployment, deploymentUrl: inline ? null : absolute(staticDeployment), rpcUrl: params.get('rpc'), reports };
  }
  const chain = await getJson<{ deployment: unknown; rpc_url: string | null }>('v1/chain');
  const list = await getJson<{ data: Array<{ url: string; name: string | null }> }>('v1/attribution/reports');
  const reports = await Promise.all(list.data.map(async (r) => ({ report: parseAttributionReport(await getJson(r.url.replace(/^\//, '')), r.url), url: absolute(r.url.replace(/^\//, '')), name: r.name })));
  return { deployment: deploymentFrom(chain.deployment, 'GET /v1/chain'), deploymentUrl: absolute('v1/chain/deployment'), rpcUrl: params.get('rpc') ?? chain.rpc_url, reports };
}

function chainOf(s: Source) {
  return defineChain({ id: s.deployment.chainId, name: `chain ${s.deployment.chainId}`, nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 }, rpcUrls: { default: { http: s.rpcUrl ? [s.rpcUrl] : [] } } });
}

/** Reads go to the RPC URL when there is one, else through the wallet. */
function publicClient(s: Source): PublicClient | undefined {
  const transport = s.rpcUrl ? http(s.rpcUrl) : window.ethereum ? custom(window.ethereum) : undefined;
  return transport && (createPublicClient({ chain: chainOf(s), transport }) as PublicClient);
}

async function refresh(): Promise<void> {
  const s = state.source;
  const client = s && publicClient(s);
  if (!s || !client || !state.address) return draw();
  state.loading = true;
  draw();
  try {
    state.rows = await rewardsOf({ ctx: { publicClient: client, deployment: s.deployment }, address: state.address, reports: s.reports.map((r) => r.report) });
    state.error = undefined;
  } catch (error) {
    state.error = `Reading the chain failed: ${(error as { shortMessage?: string }).shortMessage ?? (error as Error).message}`;
  }
  state.loading = false;
  draw();
}

async function connect(): Promise<void> {
  try {
    const [account] = (await window.ethereum!.request({ method: 'eth_requestAccounts' })) as Address[];
    state.connected = getAddress(account);
    state.address = state.connected;
    await refresh();
  } catch (error) {
    state.error = `The wallet refused: ${(error as Error).message}`;
    draw();
  }
}

async function claim(): Promise<void> {
  const s = state.source!;
  const client = publicClient(s)!;
  state.claim = { status: 'sending', text: 'Confirm the transaction in your wallet…' };
  draw();
  try {
    const walletClient = createWalletClient({ account: state.connected!, chain: chainOf(s), transport: custom(window.ethereum!) });
    const rows = state.rows!;
    const reports = s.reports.map((r) => r.report).filter((_, i) => rows[i].claimable > 0n);
    const result = await claimRewards({ ctx: { publicClient: client, walletClient, deployment: s.deployment }, reports });
    state.claim = { status: 'done', text: `Claimed ${tokens(result.amount)} tokens from ${result.adapterIds.length} adapter(s) in ${result.txHash}.` };
  } catch (error) {
    state.claim = { status: 'failed', text: `The claim failed: ${(error as { shortMessage?: string }).shortMessage ?? (error as Error).message}` };
  }
  await refresh();
}

/** The `openlora claim` command that claims the same rewards with a keystore. */
function command(s: Source, rows: AdapterRewards[]): string {
  // Rows come in the order of the reports (rewardsOf).
  const urls = s.reports.filter((_, i) => rows[i].claimable > 0n).map((r) => r.url);
  return [
    'openlora claim',
    `--rpc ${s.rpcUrl ?? 'YOUR_RPC_URL'}`,
    `--deployment ${s.deploymentUrl ?? 'deployment.json'}`,
    `--attribution ${urls.join(',')}`,
    '--key-file YOUR_KEYSTORE.json',
  ].join(' ');
}

function table(s: Source, rows: AdapterRewards[]) {
  const who = state.address!;
  return html`<table data-testid="rewards">
    <thead><tr><th>adapter</th><th>weight</th><th>share</th><th>accrued</th><th>claimed</th><th>claimable</th></tr></thead>
    <tbody>
      ${rows.map((row, i) => {
        const { report, name } = s.reports[i];
        const mine = report.contributions.filter((c) => isAddressEqual(c.contributor, who));
        return html`<tr data-adapter=${row.adapterId} data-claimable=${row.claimable.toString()} data-claimed=${row.claimed.toString()} data-accrued=${row.accrued.toString()}>
            <td><b>${name ?? short(row.adapterId)}</b> <code title=${row.adapterId}>${short(row.adapterId)}</code>${row.rootOnChain ? nothing : html` <span class="error" title="The report's root is not the one on-chain: no claim from it.">root not on-chain</span>`}</td>
            <td title=${`${row.weight} of ${row.totalWeight}`}>${row.weight.toString()} / ${row.totalWeight.toString()}</td>
            <td>${(row.share * 100).toFixed(2)}%</td>
            <td title=${row.accrued.toString()}>${tokens(row.accrued)}</td>
            <td title=${row.claimed.toString()} data-testid="claimed">${tokens(row.claimed)}</td>
            <td title=${row.claimable.toString()} data-testid="claimable">${tokens(row.claimable)}</td>
          </tr>
          <tr class="contributions"><td colspan="6">
            <details><summary>${mine.length} contribution(s) behind it</summary>
              <table><thead><tr><th>Datanet</th><th>#</th><th>content hash</th><th>tokens</th><th>weight</th></tr></thead><tbody>
                ${mine.map((c) => html`<tr><td>${c.datanet}${c.datanetId ? html` <span class="muted">(id ${c.datanetId})</span>` : nothing}</td><td>${c.index}</td><td><code title=${c.contentHash}>${short(c.contentHash)}</code></td><td>${c.scoredTokens} of ${c.tokenCount}</td><td>${c.weight}</td></tr>`)}
              </tbody></table>
            </details>
          </td></tr>`;
      })}
    </tbody>
  </table>`;
}

function claimPart(s: Source, rows: AdapterRewards[]) {
  const total = rows.reduce((sum, r) => sum + r.claimable, 0n);
  const canSign = state.connected && state.address && isAddressEqual(state.connected, state.address);
  return html`<section class="card">
    <h2>Claim</h2>
    <p>Claimable in all: <b data-testid="total-claimable" data-value=${total.toString()}>${tokens(total)}</b> tokens</p>
    ${canSign
      ? html`<button class="primary" data-testid="claim" ?disabled=${total === 0n || state.claim?.status === 'sending'} @click=${() => void claim()}>Claim with wallet</button>`
      : html`<p class="muted">${window.ethereum ? 'Connect the wallet of this address to claim from here, or run:' : 'No wallet in this browser. Claim with the openlora CLI and your keystore:'}</p>`}
    ${total > 0n ? html`<pre class="command" data-testid="cli-command">${command(s, rows)}</pre>` : nothing}
    ${state.claim ? html`<p class=${state.claim.status === 'failed' ? 'error' : 'muted'} data-testid="claim-status">${state.claim.text}</p>` : nothing}
  </section>`;
}

function draw(): void {
  const s = state.source;
  render(
    html`<header><h1>Contributor rewards</h1><nav><a href=${params.get('deployment') ? '#' : './'}>Node</a></nav></header>
      ${state.error ? html`<p class="error" data-testid="error">${state.error}</p>` : nothing}
      ${s
        ? html`<section class="card">
            <p class="muted">Chain ${s.deployment.chainId} · AttributionRewards <code>${s.deployment.contracts.attributionRewards}</code> · ${s.reports.length} attribution report(s) · reads via ${s.rpcUrl ?? (window.ethereum ? 'your wallet' : 'nothing yet')}</p>
            <form
              @submit=${(e: Event) => {
                e.preventDefault();
                const value = ((e.target as HTMLFormElement).elements.namedItem('address') as HTMLInputElement).value.trim();
                if (!isAddress(value)) {
                  state.error = `"${value}" is not an address.`;
                  return draw();
                }
                state.address = getAddress(value);
                void refresh();
              }}
            >
              <input name="address" placeholder="0x… contributor address" .value=${state.address ?? ''} />
              <button type="submit">Show rewards</button>
              ${window.ethereum ? html`<button type="button" data-testid="connect" @click=${() => void connect()}>${state.connected ? `Connected ${short(state.connected)}` : 'Connect wallet'}</button>` : nothing}
            </form>
            ${!s.rpcUrl && !window.ethereum
              ? html`<form @submit=${(e: Event) => {
                  e.preventDefault();
                  s.rpcUrl = ((e.target as HTMLFormElement).elements.namedItem('rpc') as HTMLInputElement).value.trim() || null;
                  void refresh();
                }}><input name="rpc" placeholder="https://… JSON-RPC URL of chain ${s.deployment.chainId}" /><button type="submit">Use RPC</button></form>`
              : nothing}
          </section>`
        : html`<p>Loading the deployment and reports…</p>`}
      ${state.loading ? html`<p class="muted">Reading the chain…</p>` : nothing}
      ${s && state.rows && state.address ? html`<section class="card"><h2>Rewards of <code>${state.address}</code></h2>${table(s, state.rows)}</section>${claimPart(s, state.rows)}` : nothing}`,
    document.getElementById('app')!,
  );
}

async function start(): Promise<void> {
  document.getElementById('app')!.replaceChildren();
  draw();
  try {
    state.source = await loadSource();
  } catch (error) {
    state.error = `Cannot load the deployment or the reports: ${(error as Error).message}`;
    return draw();
  }
  const given = params.get('address');
  if (given && isAddress(given)) state.address = getAddress(given);
  await refresh();
}

void start();
