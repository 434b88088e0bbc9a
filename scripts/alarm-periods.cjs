// The "missed schedule" alarms need the schedule's interval in seconds. Used from resources/alarms.yml as
// ${file(./scripts/alarm-periods.cjs):sweep} and ${file(./scripts/alarm-periods.cjs):digest}.
// rate(N unit) gives N units; a cron() expression is taken as daily (the digest's default), which is the
// longest gap of the crons this tool documents. The alarm waits two intervals, so CloudWatch's limit of
// Period x EvaluationPeriods <= 7 days caps one interval at 3.5 days.
'use strict';

const { readFileSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { parse } = require('yaml');

const UNIT_SECONDS = { minute: 60, minutes: 60, hour: 3600, hours: 3600, day: 86400, days: 86400 };
const MAX_SECONDS = 3.5 * 86400;

/** Seconds between two runs of an EventBridge schedule expression. */
function intervalSeconds(expression) {
  const rate = /^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$/.exec(String(expression).trim());
  const seconds = rate ? Number(rate[1]) * UNIT_SECONDS[rate[2]] : 86400;
  // CloudWatch periods of 60 s or more must be multiples of 60.
  return Math.max(60, Math.min(MAX_SECONDS, Math.ceil(seconds / 60) * 60));
}

function policy() {
  const file = join(__dirname, '..', 'watchdog.yml');
  return existsSync(file) ? parse(readFileSync(file, 'utf8')) || {} : {};
}

module.exports.intervalSeconds = intervalSeconds;
module.exports.sweep = async () => intervalSeconds(policy().schedule || 'rate(1 hour)');
module.exports.digest = async () => intervalSeconds(policy().digest?.schedule || 'cron(0 8 * * ? *)');
