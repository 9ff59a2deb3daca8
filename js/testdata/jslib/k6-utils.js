// A test stand-in for jslib's k6-utils, written for loadlens's tests (not
// the published file): CommonJS, as the published bundle. The tests' module
// server answers https://jslib.k6.io/k6-utils/<version>/index.js with it.
const exec = require('k6/execution');

function randomIntBetween(min, max) {
  return Math.floor(Math.random() * (max - min + 1) + min);
}

function randomItem(items) {
  return items[Math.floor(Math.random() * items.length)];
}

function randomString(length, charset = 'abcdefghijklmnopqrstuvwxyz') {
  let out = '';
  for (let i = 0; i < length; i++) {
    out += charset.charAt(Math.floor(Math.random() * charset.length));
  }
  return out;
}

function uuidv4(secure = false) {
  if (secure) {
    return crypto.randomUUID();
  }
  return 'xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx'.replace(/[xy]/g, (c) => {
    const r = (Math.random() * 16) | 0;
    return (c === 'x' ? r : (r & 0x3) | 0x8).toString(16);
  });
}

function findBetween(content, left, right, repeat = false) {
  const found = [];
  let from = 0;
  for (;;) {
    const start = content.indexOf(left, from);
    if (start === -1) break;
    const end = content.indexOf(right, start + left.length);
    if (end === -1) break;
    found.push(content.substring(start + left.length, end));
    if (!repeat) break;
    from = end + right.length;
  }
  return repeat ? found : found.length ? found[0] : null;
}

function normalDistributionStages(maxVUs, durationSeconds, numberOfStages = 10) {
  const mean = 0;
  const sd = 1;
  const stages = [{ duration: `${Math.ceil(durationSeconds * 0.1)}s`, target: 0 }];
  const span = durationSeconds * 0.8 / numberOfStages;
  for (let i = 0; i < numberOfStages; i++) {
    const x = -3 + (6 * (i + 0.5)) / numberOfStages;
    const density = Math.exp(-((x - mean) ** 2) / (2 * sd * sd));
    stages.push({ duration: `${Math.ceil(span)}s`, target: Math.round(maxVUs * density) });
  }
  stages.push({ duration: `${Math.ceil(durationSeconds * 0.1)}s`, target: 0 });
  return stages;
}

function currentStages() {
  const sc = exec.test.options.scenarios[exec.scenario.name];
  if (!sc || !sc.stages) {
    throw new Error(`the scenario ${exec.scenario.name} has no stages`);
  }
  return sc.stages;
}

function seconds(d) {
  const m = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(String(d));
  if (!m) return Number(d) / 1000;
  return (Number(m[1] || 0) * 3600) + (Number(m[2] || 0) * 60) + Number(m[3] || 0) + Number(m[4] || 0) / 1000;
}

function getCurrentStageIndex() {
  const stages = currentStages();
  const elapsed = (Date.now() - exec.scenario.startTime) / 1000;
  let sum = 0;
  for (let i = 0; i < stages.length; i++) {
    sum += seconds(stages[i].duration);
    if (elapsed < sum) return i;
  }
  return stages.length - 1;
}

function tagWithCurrentStageIndex() {
  exec.vu.tags.stage = String(getCurrentStageIndex());
}

function tagWithCurrentStageProfile() {
  const stages = currentStages();
  const i = getCurrentStageIndex();
  const prev = i > 0 ? stages[i - 1].target : 0;
  const cur = stages[i].target;
  exec.vu.tags.stage_profile = cur > prev ? 'ramp-up' : cur < prev ? 'ramp-down' : 'steady';
}

exports.randomIntBetween = randomIntBetween;
exports.randomItem = randomItem;
exports.randomString = randomString;
exports.uuidv4 = uuidv4;
exports.findBetween = findBetween;
exports.normalDistributionStages = normalDistributionStages;
exports.getCurrentStageIndex = getCurrentStageIndex;
exports.tagWithCurrentStageIndex = tagWithCurrentStageIndex;
exports.tagWithCurrentStageProfile = tagWithCurrentStageProfile;
