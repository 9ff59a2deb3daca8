// A small custom Trend: thresholds on exact percentiles.
import { Trend } from 'k6/metrics';

const score = new Trend('score');

export const options = {
  iterations: 10,
  thresholds: { score: ['med==5.5', 'p(90)==9.1', 'avg==5.5', 'max==10'] },
};

export default function () {
  score.add(__ITER + 1);
}
