// The study's trials as columns, fetched whole once and then merged from the points
// endpoint's deltas (only what changed since the last cursor).
"use strict";

class PointStore {
  constructor() {
    this.cursor = null;
    this.trial_id = [];
    this.stage = [];
    this.state = [];
    this.objective = [];
    this.finished_ms = [];
    this.params = {};
    this.stalled = new Set(); // ids of aborted trials that stalled at chance (not diverged)
    this.at = new Map(); // trial id -> index
    this.version = 0; // bumped whenever a merge changed anything
  }

  get size() {
    return this.trial_id.length;
  }

  /** Fetch the first full set or the delta since the last cursor; resolves to whether
   *  anything changed. */
  async load(studyId) {
    const data = await api(`/studies/${studyId}/points`,
                           this.cursor === null ? {} : { since: this.cursor });
    this.cursor = data.cursor;
    return this.merge(data);
  }

  merge(data) {
    const fields = ["stage", "state", "objective", "finished_ms"];
    for (const name of Object.keys(data.params)) {
      if (!this.params[name]) this.params[name] = new Array(this.size).fill(null);
    }
    let changed = false;
    let unordered = false;
    for (let k = 0; k < data.trial_id.length; k++) {
      const id = data.trial_id[k];
      let i = this.at.get(id);
      if (i === undefined) {
        i = this.size;
        unordered ||= i > 0 && id < this.trial_id[i - 1];
        this.at.set(id, i);
        this.trial_id.push(id);
        for (const f of fields) this[f].push(null);
        for (const col of Object.values(this.params)) col.push(null);
        changed = true;
      }
      for (const f of fields) {
        if (this[f][i] !== data[f][k]) { this[f][i] = data[f][k]; changed = true; }
      }
      for (const [name, col] of Object.entries(this.params)) {
        const v = data.params[name] ? data.params[name][k] : null;
        if (col[i] !== v) { col[i] = v; changed = true; }
      }
    }
    for (const id of data.stalled) {
      if (!this.stalled.has(id)) { this.stalled.add(id); changed = true; }
    }
    if (unordered) this.sortById();
    if (changed) this.version++;
    return changed;
  }

  /** Keep every column in trial id order (the charts' hit-testing relies on stable indexes). */
  sortById() {
    const order = this.trial_id.map((_, i) => i).sort((a, b) => this.trial_id[a] - this.trial_id[b]);
    for (const f of ["trial_id", "stage", "state", "objective", "finished_ms"]) {
      this[f] = order.map((i) => this[f][i]);
    }
    for (const name of Object.keys(this.params)) {
      this.params[name] = order.map((i) => this.params[name][i]);
    }
    this.at = new Map(this.trial_id.map((id, i) => [id, i]));
  }
}
