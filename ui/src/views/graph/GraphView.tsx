export function GraphView(_props: { params: URLSearchParams }) {
  return <section className="view">Not built yet.</section>;
}
