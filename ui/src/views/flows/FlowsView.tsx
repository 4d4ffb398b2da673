export function FlowsView(_props: { params: URLSearchParams }) {
  return <section className="view">Not built yet.</section>;
}
