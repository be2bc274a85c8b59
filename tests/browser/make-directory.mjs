// Writes the product's pre-existing directory for a generated OneRoster CSV feed, the way a
// district looks before its first sync: the feed's schools under the names the product knows
// them by (no source ids yet), one manual classroom per school, a few manual students the feed
// also has (so clean-up finds duplicates) and two who have left (so there is something to
// archive). Usage: node make-directory.mjs FEED_DIR OUT.json
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

function parseCsv(text) {
  const rows = [];
  let row = [], cell = '', quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') { cell += '"'; i++; }
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') { row.push(cell); cell = ''; }
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell); rows.push(row); row = []; cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length) { row.push(cell); rows.push(row); }
  const [head, ...body] = rows.filter((r) => r.length > 1);
  return body.map((r) => Object.fromEntries(head.map((h, i) => [h, r[i] ?? ''])));
}

const [feed, out] = process.argv.slice(2);
if (!feed || !out) {
  console.error('usage: node make-directory.mjs FEED_DIR OUT.json');
  process.exit(2);
}
const read = (name) => parseCsv(readFileSync(join(feed, name), 'utf8'));
const schools = read('orgs.csv').filter((o) => o.type === 'school');
const users = read('users.csv');
const births = new Map(read('demographics.csv').map((d) => [d.sourcedId, d.birthDate]));

const dir = { schools: [], classrooms: [], students: [] };
schools.forEach((s, i) => {
  dir.schools.push({ id: `school-${i + 1}`, name: s.name.replace('School', '').trim() });
  dir.classrooms.push({ id: `room-${i + 1}`, school_id: `school-${i + 1}`, name: 'Main Office Announcements' });
});
const first = schools[0].sourcedId;
const kids = users.filter((u) => u.role === 'student' && u.orgSourcedIds.split(',')[0] === first).slice(0, 4);
const student = (id, first_name, last_name, extra) => ({
  id, kind: 'student', first_name, last_name, school_ids: ['school-1'], ...extra,
});
kids.forEach((k, i) => {
  const dob = births.get(k.sourcedId);
  dir.students.push(student(`manual-student-${i + 1}`, k.givenName, k.familyName, dob ? { dob } : {}));
});
dir.students.push(student('manual-left-1', 'Avery', 'Formerstudent', {}));
dir.students.push(student('manual-left-2', 'Jordan', 'Formerstudent', {}));
writeFileSync(out, JSON.stringify(dir, null, 2));
console.log(`wrote ${out}: ${dir.schools.length} schools, ${dir.classrooms.length} classrooms, ${dir.students.length} students`);
