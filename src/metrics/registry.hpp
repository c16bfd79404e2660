#pragma once

// A small Prometheus metrics registry (no third-party client).
//
// Families are declared up front (at startup, by the component that owns them) with a
// fixed list of label names. Family::WithLabels() looks a series up under the family's
// mutex and returns a reference that stays valid for the Registry's lifetime: cache it
// and update it lock-free on hot paths.
//
// Label cardinality is bounded: a family holds at most `max_series` series (default
// 100) plus one overflow series whose label values are all "other". Once full, every
// lookup of a new label set returns the overflow series and increments
// aragora_metrics_label_overflow_total{family="<name>"}. Label values must still come
// from closed sets (STYLE.md); the bound is a safety net, not a licence.
//
// Thread-safety: everything here is safe to call from any thread. Ownership: the
// Registry owns every family and series; callers hold references.

#include <cstddef>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "metrics/metric.hpp"

namespace aragora::metrics {

inline constexpr std::size_t kDefaultMaxSeries = 100;
// Label value used for every label of the overflow series.
inline constexpr const char* kOverflowLabelValue = "other";
inline constexpr const char* kLabelOverflowFamily = "aragora_metrics_label_overflow_total";

enum class MetricType { kCounter, kGauge, kHistogram };

struct FamilyOptions {
    std::size_t max_series = kDefaultMaxSeries;
};

// Name, help text, type and label names shared by every kind of family.
class FamilyBase {
public:
    FamilyBase(std::string name, std::string help, MetricType type,
               std::vector<std::string> label_names);
    virtual ~FamilyBase() = default;
    FamilyBase(const FamilyBase&) = delete;
    FamilyBase& operator=(const FamilyBase&) = delete;

    const std::string& Name() const { return name_; }
    const std::string& Help() const { return help_; }
    MetricType Type() const { return type_; }
    const std::vector<std::string>& LabelNames() const { return label_names_; }

    // Appends this family's text exposition (HELP, TYPE, samples) to `out`.
    virtual void Render(std::string& out) const = 0;

private:
    std::string name_;
    std::string help_;
    MetricType type_;
    std::vector<std::string> label_names_;
};

// A series of a family together with its label values (for JSON endpoints).
template <typename T>
struct SeriesRef {
    std::vector<std::string> label_values;
    const T* metric = nullptr;
};

// The series of one metric name, one per label-value set. T is Counter, Gauge or
// Histogram. Created only by Registry.
template <typename T>
class Family final : public FamilyBase {
public:
    // Internal: use Registry::AddCounter/AddGauge/AddHistogram.
    Family(std::string name, std::string help, std::vector<std::string> label_names,
           FamilyOptions options, std::vector<double> bucket_bounds,
           std::function<void(const std::string&)> on_overflow);

    // Returns the series for `label_values` (one value per label name, in order),
    // creating it on first use. Stable reference; takes the family mutex, so cache
    // it on hot paths. A family without labels is looked up with WithLabels({}).
    // Passing the wrong number of values is a programming error: it asserts in debug
    // builds and returns the overflow series otherwise.
    T& WithLabels(const std::vector<std::string>& label_values);

    // Every series, sorted by label values.
    std::vector<SeriesRef<T>> Series() const;
    std::size_t SeriesCount() const;

    void Render(std::string& out) const override;

private:
    T& OverflowSeriesLocked();
    std::unique_ptr<T> MakeSeries() const;

    FamilyOptions options_;
    std::vector<double> bucket_bounds_;  // histograms only
    std::function<void(const std::string&)> on_overflow_;
    mutable std::mutex mu_;
    std::map<std::vector<std::string>, std::unique_ptr<T>> series_;
};

extern template class Family<Counter>;
extern template class Family<Gauge>;
extern template class Family<Histogram>;

class Registry {
public:
    // Registers aragora_metrics_label_overflow_total{family}.
    Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    // Declare a family. Startup-only API: an invalid metric or label name, a
    // duplicate name, or (histograms) bounds that are empty, non-finite or not
    // strictly increasing throw std::invalid_argument. "le" is reserved for
    // histograms. The returned reference lives as long as the Registry.
    Family<Counter>& AddCounter(std::string name, std::string help,
                                std::vector<std::string> label_names = {},
                                FamilyOptions options = {});
    Family<Gauge>& AddGauge(std::string name, std::string help,
                            std::vector<std::string> label_names = {}, FamilyOptions options = {});
    Family<Histogram>& AddHistogram(std::string name, std::string help,
                                    std::vector<std::string> label_names = {},
                                    std::vector<double> buckets = DefaultLatencyBuckets(),
                                    FamilyOptions options = {});

    // Unlabelled metrics whose value `read` computes at scrape time. `read` runs on
    // the scraping thread without any registry lock held; it must be thread-safe
    // and quick. Same validation as above.
    void AddCallbackGauge(std::string name, std::string help, std::function<double()> read);
    void AddCallbackCounter(std::string name, std::string help, std::function<double()> read);

    // `collect` runs at the start of every RenderPrometheus call, without any registry
    // lock held, before a family is rendered: it updates ordinary (labelled) gauges whose
    // values are computed at scrape time (e.g. the SLO compliance, metrics/slo.hpp). Same
    // rules as the callbacks above: thread-safe and quick.
    void AddCollector(std::function<void()> collect);

    // A family declared with AddCounter / AddHistogram, by name; nullptr when there is
    // none of that name and kind (for readers that do not own the family).
    const Family<Counter>* FindCounter(const std::string& name) const;
    const Family<Histogram>* FindHistogram(const std::string& name) const;

    // Text exposition format 0.0.4: families sorted by name, each with # HELP and
    // # TYPE, series sorted by label values. Serve as
    // "text/plain; version=0.0.4; charset=utf-8".
    std::string RenderPrometheus() const;
    // The same, only the families whose name `include` accepts (e.g. one subsystem's
    // families for its own scrape job). Label values play no part in the choice.
    std::string RenderPrometheus(const std::function<bool(const std::string&)>& include) const;

    // Series of aragora_metrics_label_overflow_total (label: family).
    Family<Counter>& LabelOverflow() { return *overflow_; }

private:
    template <typename F>
    F& Insert(std::unique_ptr<F> family);

    mutable std::mutex mu_;
    std::map<std::string, std::unique_ptr<FamilyBase>> families_;
    std::vector<std::function<void()>> collectors_;
    Family<Counter>* overflow_ = nullptr;
};

}  // namespace aragora::metrics
