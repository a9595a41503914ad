import { Simulation } from './simulator.ts';
import { WorkerCore } from '../src/core/worker.ts';
import { CoordinatorCore } from '../src/core/coordinator.ts';
const T = process.argv[2] ?? '2.4';
const seed = Number(process.argv[3] ?? 1179);
const wh = WorkerCore.prototype.handle;
WorkerCore.prototype.handle = function (this: WorkerCore, e, now) {
  const out = wh.call(this, e, now);
  const s = JSON.stringify(e);
  const o = JSON.stringify(out);
  if (s.includes(`"${T}"`) || o.includes(`"${T}"`)) console.log(Math.round(now) % 1000000, this.nodeId, 'IN', s.slice(0, 200), 'OUT', o.slice(0, 300));
  return out;
};
const ch = CoordinatorCore.prototype.handle;
CoordinatorCore.prototype.handle = function (this: CoordinatorCore, e, now) {
  const out = ch.call(this, e, now);
  const s = JSON.stringify(e);
  const o = JSON.stringify(out.filter((x) => JSON.stringify(x).includes(`"${T}"`) || x.type === 'log_config'));
  if (s.includes(`"${T}"`) || o.includes(`"${T}"`) || o.includes('log_config') || s.includes('config_logged')) console.log(Math.round(now) % 1000000, 'COORD IN', s.slice(0, 200), 'OUT', o.slice(0, 400));
  return out;
};
const r = new Simulation({ seed, loseUnsynced: process.argv[4] === 'lose' }).run();
console.log(r.violations);
