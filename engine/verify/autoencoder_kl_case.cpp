#include "models/autoencoder_kl.hpp"
#include "verify/cases.hpp"

namespace xdit::verify {

// out.sample = decode(in.z); when the vector has an image, also the latent
// distribution of encode(in.x).
Outputs run_autoencoder_kl_case(const io::ReferenceVector& vector, at::ScalarType dtype) {
  const io::Weights weights = vector.weights(dtype);
  const models::AutoencoderKL vae(models::AutoencoderKLConfig::from_config(vector.config()),
                                  weights);
  weights.expect_all_used();

  Outputs outputs;
  // The VAE takes its inputs in its weights' dtype, as the pipeline casts them.
  outputs["sample"] = vae.decode(vector.input("z").to(dtype));
  if (vector.has_input("x")) {
    const models::EncoderOutput latent = vae.encode(vector.input("x").to(dtype));
    outputs["latent_dist_mean"] = latent.mean;
    outputs["latent_dist_logvar"] = latent.logvar;
  }
  return outputs;
}

}  // namespace xdit::verify
