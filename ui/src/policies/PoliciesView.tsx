export function PoliciesView(_props: { params: URLSearchParams }) {
  return <section className="view">Not built yet.</section>;
}
