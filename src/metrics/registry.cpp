#include "metrics/registry.hpp"

#include <cassert>
#include <charconv>
#include <cmath>
#include <limits>
#include <set>
#include <stdexcept>
#include <type_traits>
#include <utility>

namespace aragora::metrics {
namespace {

bool IsValidMetricName(const std::string& name) {
    if (name.empty()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        bool digit = c >= '0' && c <= '9';
        if (!(alpha || (i > 0 && digit))) return false;
    }
    return true;
}

bool IsValidLabelName(const std::string& name) {
    if (name.empty() || name.rfind("__", 0) == 0) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        char c = name[i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!(alpha || (i > 0 && digit))) return false;
    }
    return true;
}

void ValidateFamily(const std::string& name, const std::vector<std::string>& label_names,
                    MetricType type) {
    if (!IsValidMetricName(name)) {
        throw std::invalid_argument("invalid metric name: '" + name + "'");
    }
    std::set<std::string> seen;
    for (const auto& label : label_names) {
        if (!IsValidLabelName(label)) {
            throw std::invalid_argument("invalid label name '" + label + "' in " + name);
        }
        if (type == MetricType::kHistogram && label == "le") {
            throw std::invalid_argument("label 'le' is reserved in histogram " + name);
        }
        if (!seen.insert(label).second) {
            throw std::invalid_argument("duplicate label '" + label + "' in " + name);
        }
    }
}

void ValidateBuckets(const std::string& name, const std::vector<double>& buckets) {
    if (buckets.empty()) throw std::invalid_argument("histogram " + name + " has no buckets");
    for (std::size_t i = 0; i < buckets.size(); ++i) {
        if (!std::isfinite(buckets[i]) || (i > 0 && !(buckets[i] > buckets[i - 1]))) {
            throw std::invalid_argument("histogram " + name +
                                        " buckets must be finite and strictly increasing");
        }
    }
}

std::string_view TypeName(MetricType type) {
    switch (type) {
        case MetricType::kCounter:
            return "counter";
        case MetricType::kGauge:
            return "gauge";
        case MetricType::kHistogram:
            return "histogram";
    }
    return "untyped";
}

template <typename T>
constexpr MetricType TypeOf() {
    if constexpr (std::is_same_v<T, Counter>) return MetricType::kCounter;
    if constexpr (std::is_same_v<T, Gauge>) return MetricType::kGauge;
    return MetricType::kHistogram;
}

// Numbers as Go's strconv.ParseFloat (promtool) reads them: integral values without an
// exponent, others in the shortest form that round-trips.
void AppendNumber(std::string& out, double v) {
    if (std::isnan(v)) {
        out += "NaN";
        return;
    }
    if (std::isinf(v)) {
        out += v > 0 ? "+Inf" : "-Inf";
        return;
    }
    char buf[64];
    std::to_chars_result r;
    if (v == std::trunc(v) && std::fabs(v) < 1e15) {
        // Also maps -0 to "0".
        r = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    } else {
        r = std::to_chars(buf, buf + sizeof buf, v);
    }
    out.append(buf, r.ptr);
}

void AppendEscapedHelp(std::string& out, std::string_view help) {
    for (char c : help) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

void AppendEscapedLabelValue(std::string& out, std::string_view value) {
    for (char c : value) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '"') {
            out += "\\\"";
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
}

// `{a="x",b="y"}` (plus an optional trailing le label); nothing when there are no labels.
void AppendLabels(std::string& out, const std::vector<std::string>& names,
                  const std::vector<std::string>& values, const std::string* le = nullptr) {
    if (names.empty() && le == nullptr) return;
    out += '{';
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) out += ',';
        out += names[i];
        out += "=\"";
        AppendEscapedLabelValue(out, values[i]);
        out += '"';
    }
    if (le != nullptr) {
        if (!names.empty()) out += ',';
        out += "le=\"";
        out += *le;
        out += '"';
    }
    out += '}';
}

void AppendHeader(std::string& out, const FamilyBase& family) {
    out += "# HELP ";
    out += family.Name();
    out += ' ';
    AppendEscapedHelp(out, family.Help());
    out += "\n# TYPE ";
    out += family.Name();
    out += ' ';
    out += TypeName(family.Type());
    out += '\n';
}

void AppendSample(std::string& out, const std::string& name, std::string_view suffix,
                  const std::vector<std::string>& label_names,
                  const std::vector<std::string>& label_values, double value,
                  const std::string* le = nullptr) {
    out += name;
    out += suffix;
    AppendLabels(out, label_names, label_values, le);
    out += ' ';
    AppendNumber(out, value);
    out += '\n';
}

void RenderSeries(std::string& out, const FamilyBase& f, const std::vector<std::string>& values,
                  const Counter& c) {
    AppendSample(out, f.Name(), "", f.LabelNames(), values, c.Value());
}

void RenderSeries(std::string& out, const FamilyBase& f, const std::vector<std::string>& values,
                  const Gauge& g) {
    AppendSample(out, f.Name(), "", f.LabelNames(), values, g.Value());
}

void RenderSeries(std::string& out, const FamilyBase& f, const std::vector<std::string>& values,
                  const Histogram& h) {
    HistogramSnapshot snap = h.Snapshot();
    std::string le;
    for (const auto& bucket : snap.buckets) {
        le.clear();
        AppendNumber(le, bucket.upper_bound);
        AppendSample(out, f.Name(), "_bucket", f.LabelNames(), values,
                     static_cast<double>(bucket.cumulative_count), &le);
    }
    AppendSample(out, f.Name(), "_sum", f.LabelNames(), values, snap.sum);
    AppendSample(out, f.Name(), "_count", f.LabelNames(), values, static_cast<double>(snap.count));
}

// An unlabelled metric read at scrape time.
class CallbackFamily final : public FamilyBase {
public:
    CallbackFamily(std::string name, std::string help, MetricType type,
                   std::function<double()> read)
        : FamilyBase(std::move(name), std::move(help), type, {}), read_(std::move(read)) {}

    void Render(std::string& out) const override {
        AppendHeader(out, *this);
        AppendSample(out, Name(), "", {}, {}, read_ ? read_() : 0.0);
    }

private:
    std::function<double()> read_;
};

}  // namespace

FamilyBase::FamilyBase(std::string name, std::string help, MetricType type,
                       std::vector<std::string> label_names)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)) {}

template <typename T>
Family<T>::Family(std::string name, std::string help, std::vector<std::string> label_names,
                  FamilyOptions options, std::vector<double> bucket_bounds,
                  std::function<void(const std::string&)> on_overflow)
    : FamilyBase(std::move(name), std::move(help), TypeOf<T>(), std::move(label_names)),
      options_(options),
      bucket_bounds_(std::move(bucket_bounds)),
      on_overflow_(std::move(on_overflow)) {
    // An unlabelled family always has its single series, so it renders its zero value.
    if (LabelNames().empty()) series_.emplace(std::vector<std::string>{}, MakeSeries());
}

template <typename T>
std::unique_ptr<T> Family<T>::MakeSeries() const {
    if constexpr (std::is_same_v<T, Histogram>) {
        return std::make_unique<Histogram>(bucket_bounds_);
    } else {
        return std::make_unique<T>();
    }
}

template <typename T>
T& Family<T>::OverflowSeriesLocked() {
    std::vector<std::string> other(LabelNames().size(), kOverflowLabelValue);
    auto it = series_.find(other);
    if (it == series_.end()) it = series_.emplace(std::move(other), MakeSeries()).first;
    return *it->second;
}

template <typename T>
T& Family<T>::WithLabels(const std::vector<std::string>& label_values) {
    assert(label_values.size() == LabelNames().size() && "wrong number of label values");
    T* overflow = nullptr;
    {
        std::lock_guard lock(mu_);
        if (label_values.size() == LabelNames().size()) {
            auto it = series_.find(label_values);
            if (it != series_.end()) return *it->second;
            if (series_.size() < options_.max_series) {
                return *series_.emplace(label_values, MakeSeries()).first->second;
            }
        }
        overflow = &OverflowSeriesLocked();
    }
    // Outside our lock: the overflow counter lives in another family.
    if (on_overflow_) on_overflow_(Name());
    return *overflow;
}

template <typename T>
std::vector<SeriesRef<T>> Family<T>::Series() const {
    std::lock_guard lock(mu_);
    std::vector<SeriesRef<T>> out;
    out.reserve(series_.size());
    for (const auto& [values, metric] : series_) out.push_back({values, metric.get()});
    return out;
}

template <typename T>
std::size_t Family<T>::SeriesCount() const {
    std::lock_guard lock(mu_);
    return series_.size();
}

template <typename T>
void Family<T>::Render(std::string& out) const {
    AppendHeader(out, *this);
    std::lock_guard lock(mu_);
    for (const auto& [values, metric] : series_) RenderSeries(out, *this, values, *metric);
}

template class Family<Counter>;
template class Family<Gauge>;
template class Family<Histogram>;

template <typename F>
F& Registry::Insert(std::unique_ptr<F> family) {
    std::lock_guard lock(mu_);
    auto [it, inserted] = families_.emplace(family->Name(), nullptr);
    if (!inserted) throw std::invalid_argument("metric registered twice: " + family->Name());
    F& ref = *family;
    it->second = std::move(family);
    return ref;
}

Registry::Registry() {
    overflow_ = &Insert(std::make_unique<Family<Counter>>(
        kLabelOverflowFamily,
        "Lookups of a new label set that were mapped to the \"other\" series because the "
        "family reached its series limit.",
        std::vector<std::string>{"family"},
        // Bounded by the number of families, which is fixed in code.
        FamilyOptions{std::numeric_limits<std::size_t>::max()}, std::vector<double>{}, nullptr));
}

Family<Counter>& Registry::AddCounter(std::string name, std::string help,
                                      std::vector<std::string> label_names, FamilyOptions options) {
    ValidateFamily(name, label_names, MetricType::kCounter);
    return Insert(std::make_unique<Family<Counter>>(
        std::move(name), std::move(help), std::move(label_names), options, std::vector<double>{},
        [this](const std::string& n) { overflow_->WithLabels({n}).Inc(); }));
}

Family<Gauge>& Registry::AddGauge(std::string name, std::string help,
                                  std::vector<std::string> label_names, FamilyOptions options) {
    ValidateFamily(name, label_names, MetricType::kGauge);
    return Insert(std::make_unique<Family<Gauge>>(
        std::move(name), std::move(help), std::move(label_names), options, std::vector<double>{},
        [this](const std::string& n) { overflow_->WithLabels({n}).Inc(); }));
}

Family<Histogram>& Registry::AddHistogram(std::string name, std::string help,
                                          std::vector<std::string> label_names,
                                          std::vector<double> buckets, FamilyOptions options) {
    ValidateFamily(name, label_names, MetricType::kHistogram);
    ValidateBuckets(name, buckets);
    return Insert(std::make_unique<Family<Histogram>>(
        std::move(name), std::move(help), std::move(label_names), options, std::move(buckets),
        [this](const std::string& n) { overflow_->WithLabels({n}).Inc(); }));
}

void Registry::AddCallbackGauge(std::string name, std::string help, std::function<double()> read) {
    ValidateFamily(name, {}, MetricType::kGauge);
    Insert(std::make_unique<CallbackFamily>(std::move(name), std::move(help), MetricType::kGauge,
                                            std::move(read)));
}

void Registry::AddCallbackCounter(std::string name, std::string help,
                                  std::function<double()> read) {
    ValidateFamily(name, {}, MetricType::kCounter);
    Insert(std::make_unique<CallbackFamily>(std::move(name), std::move(help), MetricType::kCounter,
                                            std::move(read)));
}

std::string Registry::RenderPrometheus() const {
    return RenderPrometheus([](const std::string&) { return true; });
}

void Registry::AddCollector(std::function<void()> collect) {
    std::lock_guard lock(mu_);
    collectors_.push_back(std::move(collect));
}

const Family<Counter>* Registry::FindCounter(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = families_.find(name);
    return it == families_.end() ? nullptr : dynamic_cast<const Family<Counter>*>(it->second.get());
}

const Family<Histogram>* Registry::FindHistogram(const std::string& name) const {
    std::lock_guard lock(mu_);
    auto it = families_.find(name);
    return it == families_.end() ? nullptr
                                 : dynamic_cast<const Family<Histogram>*>(it->second.get());
}

std::string Registry::RenderPrometheus(
    const std::function<bool(const std::string&)>& include) const {
    std::vector<std::function<void()>> collectors;
    {
        std::lock_guard lock(mu_);
        collectors = collectors_;
    }
    for (const auto& collect : collectors) collect();
    // Families are never removed, so the pointers outlive the lock; rendering (and the
    // scrape-time callbacks) runs without the registry lock.
    std::vector<const FamilyBase*> families;
    {
        std::lock_guard lock(mu_);
        families.reserve(families_.size());
        for (const auto& [name, family] : families_) {
            if (include(name)) families.push_back(family.get());
        }
    }
    std::string out;
    for (const FamilyBase* family : families) family->Render(out);
    return out;
}

}  // namespace aragora::metrics
